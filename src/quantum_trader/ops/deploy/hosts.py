"""The hosts file of a deployment: which services run on which host, and how.

TOML, one ``[deploy]`` table of what every host shares and one ``[hosts.NAME]`` table
per host (a host may override ``exchange_url``, ``ip_allow`` and add ``environment`` and
``credentials`` of its own)::

    [deploy]
    quantum = "/opt/quantum-trader/.venv/bin/quantum"  # the executable on every host
    user = "quantum"                # the services' user and group (default quantum)
    dynamic_user = true             # systemd allocates it (false: it must exist)
    exchange_url = "https://fapi.binance.com"
    settings = "/etc/quantum/quantum.toml"   # optional: `quantum --config` on the host
    ip_allow = ["10.0.0.0/24"]      # optional: the only addresses it may talk to
    [deploy.environment]            # non-secret settings, as QUANTUM_ variables
    QUANTUM_METRICS__HOST = "0.0.0.0"
    [deploy.credentials]            # secrets: setting variable -> file on the host
    QUANTUM_REDIS_URL = "/etc/quantum/credentials/redis-url"

    [hosts.trade-a]
    services = ["market-feed", "signal-engine", "intent-bridge", "apply-layer"]

Everything is checked before a unit is written: a bad file is one line naming the field
(``hosts.trade-a.services: 'ledgr' is not a service; one of: …``).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quantum_trader.config import SERVICE_NAMES, Settings
from quantum_trader.ops.service_main import ALL_SERVICES, NO_EXCHANGE

# settings that are secrets: never in a unit's Environment=, only through a credential
SECRET_SETTINGS = (
    "QUANTUM_BINANCE_API_KEY",
    "QUANTUM_BINANCE_API_SECRET",
    "QUANTUM_NOTIFY__TARGETS",
    "QUANTUM_DASHBOARD__USERS",
    "QUANTUM_DASHBOARD__JWT_SECRET",
    "QUANTUM_REDIS__PASSWORD",
    "QUANTUM_REDIS__SENTINEL_PASSWORD",
)
EXCHANGE_SECRETS = ("QUANTUM_BINANCE_",)  # withheld from the services with no exchange
SET_BY_THE_UNIT = ("QUANTUM_DATA_DIR",)  # the unit's StateDirectory=
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
_PLAIN = re.compile(r"[^\s\"'\\;]+")  # one word of a unit file: no quoting needed
_SETTING = re.compile(r"QUANTUM_[A-Z0-9_]+")
_IP_WORDS = ("any", "localhost", "link-local", "multicast")


class HostsError(ValueError):
    """A hosts file that cannot be deployed; the message is one line naming the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Shared(_Strict):
    quantum: str
    user: str = "quantum"
    dynamic_user: bool = True
    exchange_url: str | None = None
    settings: str | None = None
    ip_allow: tuple[str, ...] = ()
    environment: dict[str, str] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


class _Host(_Strict):
    services: tuple[str, ...] = Field(min_length=1)
    exchange_url: str | None = None
    ip_allow: tuple[str, ...] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


class _File(_Strict):
    deploy: _Shared
    hosts: dict[str, _Host] = Field(min_length=1)


@dataclass(frozen=True)
class HostPlan:
    """One host: its services and what their units carry (shared values merged in)."""

    name: str
    services: tuple[str, ...]
    exchange_url: str | None
    ip_allow: tuple[str, ...]
    environment: dict[str, str]
    credentials: dict[str, str]

    def credentials_of(self, service: str) -> dict[str, str]:
        """What ``service``'s unit loads: the exchange's keys only where it trades."""
        if service not in NO_EXCHANGE:
            return dict(self.credentials)
        return {k: v for k, v in self.credentials.items() if not k.startswith(EXCHANGE_SECRETS)}


@dataclass(frozen=True)
class Deployment:
    quantum: str
    user: str
    dynamic_user: bool
    settings_file: str | None
    hosts: tuple[HostPlan, ...]


def unplaced(deployment: Deployment) -> list[str]:
    """The trading services and the watchdog no host runs: a deployment without one of
    them trades without that part (no ledger, nobody to fail safe), so the command warns."""
    placed = {service for host in deployment.hosts for service in host.services}
    return [s for s in (*SERVICE_NAMES, "watchdog") if s not in placed]


def load_hosts(path: Path) -> Deployment:
    """The deployment ``path`` describes, checked; ``HostsError`` (one line) if not."""
    where = f"hosts file {path}"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HostsError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HostsError(f"{where} cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise HostsError(f"{where} is not valid TOML ({exc})") from None
    try:
        parsed = _File(**raw)
    except ValidationError as exc:
        raise HostsError(f"{where}: {_first(exc)}") from None
    try:
        return _checked(parsed)
    except ValueError as exc:
        raise HostsError(f"{where}: {exc}") from None


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "the file"
    if err["type"] == "extra_forbidden":
        return f"{name}: unknown field (see `quantum deploy systemd --help`)"
    if err["type"] == "missing":
        return f"{name}: required"
    return f"{name}: {err['msg']}"


def _checked(parsed: _File) -> Deployment:
    shared = parsed.deploy
    _absolute(shared.quantum, "deploy.quantum")
    if shared.settings is not None:
        _absolute(shared.settings, "deploy.settings")
    if not _USER.fullmatch(shared.user):
        raise ValueError(f"deploy.user: {shared.user!r} is not a user name (e.g. quantum)")
    _settings_of(shared.environment, "deploy.environment", secrets_allowed=False)
    _settings_of(shared.credentials, "deploy.credentials", secrets_allowed=True)
    hosts = tuple(_host(name, host, shared) for name, host in parsed.hosts.items())
    for host in hosts:
        names = {**host.environment, **host.credentials}
        if shared.settings is None and not {"QUANTUM_REDIS_URL", "QUANTUM_REDIS__SENTINELS"} & set(
            names
        ):
            raise ValueError(
                f"hosts.{host.name}: no Redis: every host shares one, so set "
                "deploy.credentials.QUANTUM_REDIS_URL (or deploy.settings)"
            )
    return Deployment(shared.quantum, shared.user, shared.dynamic_user, shared.settings, hosts)


def _host(name: str, host: _Host, shared: _Shared) -> HostPlan:
    field = f"hosts.{name}"
    if not _HOST.fullmatch(name):
        raise ValueError(f"{field}: {name!r} is not a host name (letters, digits, - and _)")
    seen: set[str] = set()
    for service in host.services:
        if service not in ALL_SERVICES:
            raise ValueError(
                f"{field}.services: {service!r} is not a service; one of: {', '.join(ALL_SERVICES)}"
            )
        if service in seen:
            raise ValueError(f"{field}.services: {service!r} is listed twice (one unit each)")
        seen.add(service)
    url = host.exchange_url or shared.exchange_url
    trading = [s for s in host.services if s not in NO_EXCHANGE]
    if trading and url is None:
        raise ValueError(
            f"{field}.exchange_url (or deploy.exchange_url): required, {name} runs {trading[0]}"
        )
    if url is not None and not (re.fullmatch(r"https?://\S+", url) and _PLAIN.fullmatch(url)):
        which = f"{field}.exchange_url" if host.exchange_url else "deploy.exchange_url"
        raise ValueError(f"{which}: {url!r} is not an http:// or https:// URL")
    _settings_of(host.environment, f"{field}.environment", secrets_allowed=False)
    _settings_of(host.credentials, f"{field}.credentials", secrets_allowed=True)
    allow = host.ip_allow if host.ip_allow is not None else shared.ip_allow
    for address in allow:
        _ip(address, f"{field}.ip_allow" if host.ip_allow is not None else "deploy.ip_allow")
    return HostPlan(
        name=name,
        services=host.services,
        exchange_url=url if trading else None,
        ip_allow=allow,
        environment={**shared.environment, **host.environment},
        credentials={**shared.credentials, **host.credentials},
    )


def _absolute(value: str, field: str) -> None:
    if not value.startswith("/") or not _PLAIN.fullmatch(value):
        raise ValueError(f"{field}: {value!r} must be an absolute path without spaces or quotes")


def _settings_of(values: dict[str, Any], field: str, *, secrets_allowed: bool) -> None:
    """Each name a setting's variable; values plain (environment) or files (credentials)."""
    for name, value in values.items():
        where = f"{field}.{name}"
        head = name.removeprefix("QUANTUM_").split("__", 1)[0].lower()
        if not _SETTING.fullmatch(name) or head not in Settings.model_fields:
            raise ValueError(f"{where}: not a setting's variable (e.g. QUANTUM_REDIS_URL)")
        if name in SET_BY_THE_UNIT:
            raise ValueError(f"{where}: set by the unit (its StateDirectory=); leave it out")
        if secrets_allowed:
            _absolute(value, where)
            continue
        secret = name.startswith(SECRET_SETTINGS) or (name == "QUANTUM_REDIS_URL" and "@" in value)
        if secret:
            raise ValueError(f"{where}: a secret: put it in credentials (a file), not here")
        if "\n" in value or "\0" in value:
            raise ValueError(f"{where}: one line, please")


def _ip(address: str, field: str) -> None:
    if address in _IP_WORDS:
        return
    try:
        ipaddress.ip_network(address, strict=False)
    except ValueError:
        raise ValueError(
            f"{field}: {address!r} is not an address or prefix (e.g. 10.0.0.0/24)"
        ) from None
