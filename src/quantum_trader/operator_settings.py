"""The settings sections of the operator's tools: the dashboard (who may log in, how
long a login lasts), the notifier (webhook targets, retries, rate limit, dedup window)
the metrics endpoints (where each process serves ``/metrics``), Redis's failover
(sentinels, write durability) and symbol sharding (shards, their leases), with the one
list of the services ``quantum service NAME`` runs. ``quantum_trader.config`` holds them
in ``Settings``; nothing here reads the environment."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode


class DashboardRole(StrEnum):
    """What a dashboard user may do: ``admin`` acts (kill switch, pauses, closes, stops,
    breaker), ``viewer`` reads only."""

    ADMIN = "admin"
    VIEWER = "viewer"


@checked_dataclass(frozen=True)
class DashboardUser:
    """One dashboard login. ``password`` is an argon2 hash (``$argon2id$…``, what
    ``quantum dashboard hash-password`` prints) or, discouraged, the password itself,
    hashed when the dashboard starts."""

    password: SecretStr
    role: DashboardRole = DashboardRole.VIEWER


@checked_dataclass(frozen=True)
class DashboardSettings:
    """``quantum dashboard`` / ``quantum run --dashboard``: where it listens, who may log
    in, how long a login lasts, and the limits its actions keep."""

    host: str = "127.0.0.1"  # loopback; any other address also needs allow_remote
    port: int = 8080
    allow_remote: bool = False
    users: dict[str, DashboardUser] = dataclasses.field(default_factory=dict)
    # signs the login tokens; unset: a random key per process (logins end at a restart)
    jwt_secret: SecretStr | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 43_200
    login_attempts: int = 5  # failed logins per user and client address per window
    login_window_s: int = 300
    live_interval_ms: int = 250  # the fastest a page is told the same thing changed again
    # a stop moved by hand stays at least this fraction of the last price away from it
    stop_min_distance_pct: Decimal = Decimal("0.001")
    max_pause_ms: int = 7 * 86_400_000  # the longest entry pause an operator may set

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        for name in self.users:
            if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
                raise ValueError(f"users: {name!r} is not a user name (letters, digits, _.@-)")
        for name in ("access_token_ttl_s", "refresh_token_ttl_s", "login_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.refresh_token_ttl_s < self.access_token_ttl_s:
            raise ValueError("refresh_token_ttl_s must be at least access_token_ttl_s")
        if self.login_window_s < 1 or self.live_interval_ms < 0 or self.max_pause_ms < 60_000:
            raise ValueError(
                "login_window_s >= 1, live_interval_ms >= 0 and max_pause_ms >= 60000 required"
            )
        if not 0 <= self.stop_min_distance_pct < 1:
            raise ValueError(
                f"stop_min_distance_pct must be in [0, 1), got {self.stop_min_distance_pct}"
            )
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is not None and len(secret) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")


# The services ``quantum service NAME`` runs, each in a process of its own.
SERVICE_NAMES = (
    "signal-engine",
    "intent-bridge",
    "risk-guard",
    "apply-layer",
    "exit-brain",
    "ledger",
    "execution-pump",
    "position-monitor",
    "circuit-breaker",
)


class NotifyKind(StrEnum):
    """What the notifier sends; a target subscribes to any of them (default: all)."""

    ENTRY = "entry"  # an entry order's fill
    EXIT = "exit"  # a fill that reduced or closed a position (reason, PnL)
    RISK_MODE = "risk_mode"  # a change of risk mode or of its reasons
    BREAKER = "breaker"  # the circuit breaker tripped (or was reset)
    SERVICE_DEAD = "service_dead"  # a service's heartbeat went stale
    SERVICE_RECOVERED = "service_recovered"  # ... and came back
    DAILY_SUMMARY = "daily_summary"  # the market day just ended (UTC)
    CRITICAL = "critical"  # any other critical event (crash loop, state lost, …)


class NotifyTargetKind(StrEnum):
    """The body a target is sent: a stable JSON record, or a chat API's own message."""

    GENERIC = "generic"
    TELEGRAM = "telegram"  # Bot API sendMessage (url .../bot<token>/sendMessage, chat_id)
    DISCORD = "discord"  # webhook execute (content, embeds)
    SLACK = "slack"  # incoming webhook (text, blocks)


@checked_dataclass(frozen=True)
class NotifyTarget:
    """One webhook. ``url`` is a secret (chat URLs carry their token); ``rate_per_minute``
    overrides ``notify.rate_per_minute`` for this target."""

    kind: NotifyTargetKind
    url: SecretStr
    chat_id: str | None = Field(default=None, validate_default=True)  # telegram only
    events: tuple[NotifyKind, ...] = tuple(NotifyKind)
    rate_per_minute: float | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"https?://[^\s/]+\S*", value.get_secret_value()):
            raise ValueError("url must be an http:// or https:// URL")
        return value

    @field_validator("chat_id")
    @classmethod
    def _chat_of_telegram(cls, value: str | None, info: Any) -> str | None:
        if (info.data.get("kind") == NotifyTargetKind.TELEGRAM) != bool(value):
            raise ValueError("chat_id is required for a telegram target, and only for one")
        return value

    def __post_init__(self) -> None:
        if self.rate_per_minute is not None and self.rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be > 0, got {self.rate_per_minute}")


@checked_dataclass(frozen=True)
class NotifySettings:
    """The notifier: where it sends (``targets``, by name), how hard it tries, how fast it
    may send to one target, how long an event is remembered, when a service is dead."""

    targets: dict[str, NotifyTarget] = dataclasses.field(default_factory=dict)
    retries: int = 3  # attempts after the first, on 5xx / 429 / timeouts / refused
    backoff_s: float = 1.0  # the first retry's wait, doubling after each attempt ...
    max_backoff_s: float = 60.0  # ... up to this; a longer Retry-After gives up at once
    timeout_s: float = 10.0  # one request
    rate_per_minute: float = 20.0  # requests per target (token bucket) ...
    burst: int = 5  # ... of which this many at once
    dedup_window_s: int = 86_400  # an event is sent once within this (and older is dropped)
    service_down_after_s: float = 30.0  # a heartbeat gone or not running this long: dead
    watch_interval_s: float = 5.0  # how often heartbeats and the market day are looked at

    def __post_init__(self) -> None:
        for name in self.targets:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"targets: {name!r} is not a target name (letters, digits, _.-)")
        if not 0 <= self.retries <= 20 or self.burst < 1:
            raise ValueError("retries must be in 0..20 and burst >= 1")
        for name in ("backoff_s", "timeout_s", "rate_per_minute", "service_down_after_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_backoff_s < self.backoff_s:
            raise ValueError("max_backoff_s must be at least backoff_s")
        if self.dedup_window_s < 60 or self.watch_interval_s <= 0:
            raise ValueError("dedup_window_s must be >= 60 and watch_interval_s > 0")


_ADDRESS = re.compile(r"\[?([A-Za-z0-9_.:-]+?)\]?:(\d{1,5})")


@checked_dataclass(frozen=True)
class RedisSettings:
    """Where the primary is found and how durable a write must be before money moves.

    ``sentinels`` (``host:port`` list, comma string accepted) set: every process asks
    Sentinel for the primary of ``master_name`` and follows a failover; empty: the one
    server of ``redis_url`` (or the embedded one). The primary's password is the one in
    ``redis_url`` (with sentinels, only its user, password and database are used) or
    ``password``; ``sentinel_password`` is the sentinels' own ``requirepass``.
    ``wait_replicas`` > 0: the apply layer sends ``WAIT wait_replicas wait_timeout_ms``
    after an entry's reservation (no order goes out until it is on that many replicas)
    and after a plan's finish; 0 (the default, right for one server) waits for none."""

    sentinels: Annotated[tuple[str, ...], NoDecode] = ()
    master_name: str = "quantum"
    password: SecretStr | None = None
    sentinel_password: SecretStr | None = None
    wait_replicas: int = 0
    wait_timeout_ms: int = 200

    @field_validator("sentinels", mode="before")
    @classmethod
    def _split_sentinels(cls, value: Any) -> Any:
        """``QUANTUM_REDIS__SENTINELS=10.0.0.5:26379,10.0.0.6:26379`` or a TOML list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    def __post_init__(self) -> None:
        for address in self.sentinels:
            found = _ADDRESS.fullmatch(address)
            if found is None or not 1 <= int(found.group(2)) <= 65535:
                raise ValueError(
                    f"sentinels: {address!r} is not host:port (e.g. 10.0.0.5:26379,10.0.0.6:26379)"
                )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.master_name):
            raise ValueError(
                f"master_name {self.master_name!r} must be letters, digits and _.- "
                "(the name in the sentinels' `sentinel monitor NAME ...`)"
            )
        if not 0 <= self.wait_replicas <= 16:
            raise ValueError(f"wait_replicas must be in 0..16, got {self.wait_replicas}")
        if not 1 <= self.wait_timeout_ms <= 60_000:
            # WAIT with timeout 0 blocks for ever: a dead replica would stop every entry
            raise ValueError(f"wait_timeout_ms must be in 1..60000, got {self.wait_timeout_ms}")

    def addresses(self) -> list[tuple[str, int]]:
        """The sentinels as (host, port) pairs."""
        out = []
        for address in self.sentinels:
            found = _ADDRESS.fullmatch(address)
            assert found is not None  # checked above
            out.append((found.group(1), int(found.group(2))))
        return out


@checked_dataclass(frozen=True)
class ShardingSettings:
    """Symbols split across executors (``decide/shards.py``): ``shards`` lanes, each
    served by the one apply-layer process holding its lease (``services/shard_lease.py``).

    ``lease_ms``: how long a lease outlives its last renewal, so a dead owner's shard is
    taken by a survivor within ``lease_ms + renew_ms``; ``renew_ms``: how often an owner
    renews (and looks for free shards), under half the lease so one late renewal does not
    lose it; ``prefer``: the shards this process asks for first and takes back from a
    process that merely covers for it (empty: whatever is free, a standby). 1 shard (the
    default) runs everything unsharded, as one lane."""

    shards: int = 1
    lease_ms: int = 3_000
    renew_ms: int = 1_000
    prefer: Annotated[tuple[int, ...], NoDecode] = ()

    @field_validator("prefer", mode="before")
    @classmethod
    def _split_prefer(cls, value: Any) -> Any:
        """``QUANTUM_SHARDING__PREFER=0,2`` or a TOML list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            try:
                return tuple(int(part) for part in text.split(",") if part.strip())
            except ValueError:
                raise ValueError(
                    f"prefer: {value!r} is not a list of shard numbers (e.g. 0,2)"
                ) from None
        return value

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 256:
            raise ValueError(f"shards must be in 1..256 (1: unsharded), got {self.shards}")
        if not 100 <= self.lease_ms <= 600_000:
            raise ValueError(f"lease_ms must be in 100..600000, got {self.lease_ms}")
        if self.renew_ms < 10 or 2 * self.renew_ms >= self.lease_ms:
            raise ValueError(
                f"renew_ms must be at least 10 and under half of lease_ms ({self.lease_ms}), "
                f"got {self.renew_ms}: renew at least twice per lease, e.g. "
                f"renew_ms={max(10, self.lease_ms // 3)}"
            )
        outside = [k for k in self.prefer if not 0 <= k < self.shards]
        if outside:
            raise ValueError(
                f"prefer: shard {outside[0]} does not exist with shards={self.shards} "
                f"(shards are 0..{self.shards - 1}); raise shards or drop it"
            )
        if len(set(self.prefer)) != len(self.prefer):
            raise ValueError("prefer: each shard may appear once")


# Every process that serves /metrics and /health, in port order: its port is
# ``metrics.base_port`` + its place here (the ``metrics`` service reads Redis and the
# exchange; the others are ``quantum service NAME``; the market feed last, so the ports
# before it stay where they were).
METRICS_SERVICES = ("metrics", *SERVICE_NAMES, "market-feed")


@checked_dataclass(frozen=True)
class MetricsSettings:
    """Where each process serves ``/metrics`` and ``/health`` (``host``; port
    ``base_port`` + its place in ``METRICS_SERVICES``, or its entry in ``ports``; 0 serves
    nothing), and how often the ``metrics`` service reads the exchange."""

    host: str = "127.0.0.1"  # 0.0.0.0 for a Prometheus on another machine
    base_port: int = 9310
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    exchange_refresh_s: float = 5.0  # account, positions and stops: at most this often

    def __post_init__(self) -> None:
        if not 0 <= self.base_port <= 65535 - len(METRICS_SERVICES):
            raise ValueError(f"base_port must be in 0..{65535 - len(METRICS_SERVICES)}")
        for name, port in self.ports.items():
            if name not in METRICS_SERVICES:
                raise ValueError(f"ports: {name!r} is not one of {', '.join(METRICS_SERVICES)}")
            if not 0 <= port <= 65535:
                raise ValueError(f"ports: {name} = {port} is not in 0..65535")
        if not 0 < self.exchange_refresh_s <= 300:
            raise ValueError(
                f"exchange_refresh_s must be in (0, 300], got {self.exchange_refresh_s}"
            )

    def port(self, service: str) -> int:
        """The port ``service`` serves on (0: none)."""
        if service in self.ports:
            return self.ports[service]
        return self.base_port + METRICS_SERVICES.index(service) if self.base_port else 0


# The settings a systemd unit hands its process, under systemd's own variable names (no
# QUANTUM_ prefix: systemd sets them): its notify socket, its watchdog timeout, and the
# directory holding the credentials of ``LoadCredential=`` (see ``credential_files``).
SYSTEMD_ENV = {
    "notify_socket": "NOTIFY_SOCKET",
    "watchdog_usec": "WATCHDOG_USEC",
    "credentials_directory": "CREDENTIALS_DIRECTORY",
}


class SystemdSettings(BaseSettings):
    """The part of ``Settings`` systemd sets for a unit's process, read under
    ``SYSTEMD_ENV``'s names: unset outside systemd."""

    notify_socket: str | None = Field(
        default=None, validation_alias=AliasChoices("notify_socket", "NOTIFY_SOCKET")
    )
    watchdog_usec: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("watchdog_usec", "WATCHDOG_USEC")
    )
    credentials_directory: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("credentials_directory", "CREDENTIALS_DIRECTORY"),
    )

    @field_validator("notify_socket")
    @classmethod
    def _socket_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("/", "@")):
            raise ValueError("must be an absolute socket path or an @abstract address")
        return value


class CredentialFiles(EnvSettingsSource):
    """The environment source reading a unit's credential files instead of the
    environment: the same names, nesting (``__``) and JSON as a variable would have."""

    def __init__(self, settings_cls: type[BaseSettings], files: dict[str, str]) -> None:
        self._files = files
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._files)


def credential_values(settings_cls: type[BaseSettings], directory: Path) -> dict[str, Any]:
    """The settings in the credentials systemd placed for a unit (``LoadCredential=NAME:
    PATH``): each file is named like a setting's environment variable
    (``QUANTUM_REDIS_URL``, ``QUANTUM_BINANCE_API_SECRET``, ``QUANTUM_NOTIFY__TARGETS``)
    and holds the value that variable would (surrounding whitespace dropped); other
    files are not settings and are ignored. Secrets so stay out of the unit file, the
    process environment and ``systemctl show``."""
    files = {
        f.name.lower(): f.read_text().strip() for f in sorted(directory.iterdir()) if f.is_file()
    }
    return CredentialFiles(settings_cls, files)()
