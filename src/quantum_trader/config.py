"""One typed, frozen settings object for every service, mode and command.

Sources, highest first: keyword overrides (CLI flags), environment (prefix ``QUANTUM_``,
nested sections with ``__``: ``QUANTUM_SIZING__RISK_PCT=0.01``; ``TRADING_SYMBOLS`` is
accepted too, as the original system's operators expect), an optional TOML file
(``--config``; ``[quantum]`` and ``[quantum.sizing]``…), defaults. Sources merge field by
field, so a file can set ``sizing.leverage`` and the environment ``sizing.risk_pct``.
Invalid input becomes one ``ConfigError`` line naming the setting, the value and what is
expected.

The trading sections *are* the pure configuration records of the decisions they steer
(``SizingConfig``, ``GateLimits``, ``RiskConfig``, ``ExitConfig``…): each parameter has
one default, in the module of the rule that uses it, and ``bootstrap`` hands the same
objects to every mode.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass
from pydantic_settings import (
    EnvSettingsSource,
    NoDecode,
    SettingsConfigDict,
    SettingsError,
)

from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.intent_policy import IntentPolicyConfig
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.decide.sizing import SizingConfig
from quantum_trader.model.card import ID_HEX_DIGITS, ID_PREFIX
from quantum_trader.model.drift import DriftRules
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.promotion import PromotionRules
from quantum_trader.model.train import TrainConfig
from quantum_trader.operator_settings import (
    METRICS_SERVICES,
    SERVICE_NAMES,
    SYSTEMD_ENV,
    DashboardRole,
    DashboardSettings,
    DashboardUser,
    MetricsSettings,
    NotifyKind,
    NotifySettings,
    NotifyTarget,
    NotifyTargetKind,
    RedisSettings,
    ShardingSettings,
    SystemdSettings,
    credential_values,
)
from quantum_trader.strategies import available as available_strategies

# the operator sections are part of the one Settings: importable from here
__all__ = [
    "METRICS_SERVICES",
    "SERVICE_NAMES",
    "DashboardRole",
    "DashboardSettings",
    "DashboardUser",
    "MetricsSettings",
    "NotifyKind",
    "NotifySettings",
    "NotifyTarget",
    "NotifyTargetKind",
    "RedisSettings",
]


class Mode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    DEMO = "demo"
    LIVE = "live"


_JSON_EXAMPLE = 'QUANTUM_EXITS__HARVEST__TRANCHES=\'[{"at_r": "1", "action": "PARTIAL_25"}]\''
DEFAULT_SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "LINKUSDT",
)


class ConfigError(ValueError):
    """A setting that cannot be used; the message is one line meant for a person."""


MAX_HISTORY_BARS = 10_080  # a week of 1m bars
BINANCE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


@checked_dataclass(frozen=True)
class StrategySettings:
    """Which strategies trade, on which bar interval (the same set in every mode)."""

    names: Annotated[tuple[str, ...], NoDecode] = ("trend_ema", "breakout", "mean_reversion")
    interval: str = "1m"
    # closed klines the signal engine replays at start (None: twice the longest strategy
    # warm-up, where EMAs have converged; at most 1,500, Binance's /klines limit)
    warmup_bars: int | None = None
    # bars of history before a run trades: a paper run's venue holds them and the services
    # warm up on them; a backtest trades no signal before them (so both start together)
    history_bars: int = 420

    @field_validator("names", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        """``QUANTUM_STRATEGIES__NAMES=trend_ema,breakout`` as well as a TOML list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return tuple(n for n in (p.strip() for p in text.split(",")) if n)
        return value

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("names: give at least one strategy, e.g. trend_ema")
        known = available_strategies()
        unknown = [n for n in self.names if n not in known]
        if unknown:
            raise ValueError(f"names: unknown {unknown[0]!r}; known: {', '.join(known)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError("names: each strategy may appear once")
        if "model" in self.names and len(self.names) > 1:
            raise ValueError(
                "names: 'model' trades alone (it scores the whole universe at once); "
                "remove the other names"
            )
        if self.interval not in BINANCE_INTERVALS:
            raise ValueError(f"interval {self.interval!r}: one of {', '.join(BINANCE_INTERVALS)}")
        if self.warmup_bars is not None and not 0 <= self.warmup_bars <= 1500:
            raise ValueError(f"warmup_bars must be in 0..1500, got {self.warmup_bars}")
        if not 0 <= self.history_bars <= MAX_HISTORY_BARS:
            raise ValueError(
                f"history_bars must be in 0..{MAX_HISTORY_BARS}, got {self.history_bars}"
            )


@checked_dataclass(frozen=True)
class ModelSettings:
    """The signal model: its barrier labels, walk-forward training, promotion and drift
    rules."""

    barrier: BarrierConfig = dataclasses.field(default_factory=BarrierConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    promotion: PromotionRules = dataclasses.field(default_factory=PromotionRules)
    drift: DriftRules = dataclasses.field(default_factory=DriftRules)
    # The model strategy serves this model only (empty: the promoted one, followed as
    # promotions change it) ...
    pinned: str = ""
    # ... and judges this rule strategy's entries (meta-labelling; empty: its own entries)
    filter: str = ""

    def __post_init__(self) -> None:
        if self.filter and (self.filter == "model" or self.filter not in available_strategies()):
            known = ", ".join(n for n in available_strategies() if n != "model")
            raise ValueError(f"filter: {self.filter!r} is not a rule strategy; one of {known}")
        if self.pinned and not re.fullmatch(
            rf"({ID_PREFIX})?[0-9a-f]{{{ID_HEX_DIGITS}}}", self.pinned
        ):
            raise ValueError(
                f"pinned: {self.pinned!r} is not a model id ({ID_PREFIX} and {ID_HEX_DIGITS} "
                "hex digits, as quantum model list shows them)"
            )


class Settings(SystemdSettings):
    """Everything configurable (with what systemd hands a unit, ``SystemdSettings``).
    Frozen: build a new one with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(
        env_prefix="QUANTUM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        populate_by_name=True,
    )

    mode: Mode = Mode.PAPER
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset = start an embedded redis-server"
    )
    redis: RedisSettings = Field(default_factory=RedisSettings)  # sentinels, WAIT
    sharding: ShardingSettings = Field(default_factory=ShardingSettings)  # lanes, leases
    key_prefix: str = Field(default="quantum:", pattern=r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*:$")
    data_dir: Path = Path("var")
    trading_symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SYMBOLS,
        validation_alias=AliasChoices(
            "trading_symbols", "QUANTUM_TRADING_SYMBOLS", "TRADING_SYMBOLS"
        ),
    )
    log_json: bool = False
    log_level: str = Field(default="WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    # bus
    stream_maxlen: int = Field(default=100_000, ge=1000)
    reclaim_idle_ms: int = Field(default=30_000, ge=100)
    reclaim_interval_ms: int = Field(default=5_000, ge=100)
    max_handler_failures: int = Field(default=3, ge=1, le=100)
    max_message_bytes: int = Field(default=65_536, ge=1024)
    read_batch: int = Field(default=100, ge=1, le=10_000)

    # service runtime
    heartbeat_interval_ms: int = Field(default=1_000, ge=50)
    heartbeat_ttl_ms: int = Field(default=5_000, ge=100)

    # trading: the same objects in backtest, paper, processes, demo and live
    strategies: StrategySettings = Field(default_factory=StrategySettings)
    policy: IntentPolicyConfig = Field(default_factory=IntentPolicyConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    gate: GateLimits = Field(default_factory=GateLimits)
    apply: ApplyConfig = Field(default_factory=ApplyConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    exits: ExitConfig = Field(default_factory=ExitConfig)
    model: ModelSettings = Field(default_factory=ModelSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    # exchange credentials: environment or secret file only, never logged
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    binance_secret_file: Path | None = None  # JSON {api_key, api_secret} or two lines

    @field_validator("trading_symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [s for s in (p.strip() for p in value.split(",")) if s]
        if isinstance(value, list | tuple):
            symbols = tuple(str(s).strip().upper() for s in value)
            for symbol in symbols:
                if not symbol.isalnum():
                    raise ValueError(f"symbol {symbol!r} must be letters and digits, e.g. BTCUSDT")
            return symbols
        return value

    @field_validator("heartbeat_ttl_ms")
    @classmethod
    def _ttl_outlives_interval(cls, value: int, info: Any) -> int:
        interval = info.data.get("heartbeat_interval_ms", 1000)
        if value < 2 * interval:
            raise ValueError(f"must be at least twice heartbeat_interval_ms ({interval})")
        return value

    def masked(self) -> dict[str, Any]:
        """Settings as plain data with secrets masked, for ``quantum config show``."""
        data = self.model_dump(mode="json")
        for name in ("binance_api_key", "binance_api_secret"):
            if data.get(name):
                data[name] = "****"
        if self.redis_url:
            data["redis_url"] = mask_url(self.redis_url)
        return data


def mask_url(url: str) -> str:
    """A URL fit to print: any credentials before ``@`` become ``****``."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://****@{rest.rsplit('@', 1)[1]}"
    return url


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from file, environment and overrides; raise ``ConfigError`` on bad input."""
    return load_with_sources(config_file, **overrides)[0]


def load_with_sources(
    config_file: Path | None = None, **overrides: Any
) -> tuple[Settings, dict[str, str]]:
    """Settings, and where each explicitly set value came from (dotted name -> ``cli``,
    ``env`` (its variable is ``env_name(name)``), ``file PATH``); a name not listed has its
    default."""
    file_values = _file_values(config_file)
    cli = _drop_none(overrides)
    try:
        env = EnvSettingsSource(Settings)()
    except SettingsError as exc:  # an environment value that is not the JSON it must be
        raise ConfigError(f"{exc}: write lists of records as JSON, e.g. {_JSON_EXAMPLE}") from None
    sources: dict[str, str] = {}
    for name in _leaves(file_values):
        sources[name] = f"file {config_file}"
    for name in _leaves(env):
        sources[name] = "env"
    below = deep_merge(file_values, env)
    directory = cli.get("credentials_directory", below.get("credentials_directory"))
    credentials = _credentials(directory)
    for name in _leaves(credentials):
        sources[name] = f"credentials {directory}"
    for name in _leaves(cli):
        sources[name] = "cli"
    try:
        settings = Settings(**deep_merge(deep_merge(below, credentials), cli))
    except ValidationError as exc:
        raise ConfigError(describe(exc, {**file_values, **cli}, sources)) from None
    return settings, sources


def _credentials(directory: object) -> dict[str, Any]:
    """Settings from ``CREDENTIALS_DIRECTORY`` (systemd's ``LoadCredential=``), between
    the environment and the command line; nothing without one."""
    if not directory:
        return {}
    try:
        return credential_values(Settings, Path(str(directory)))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"invalid setting credentials_directory (env CREDENTIALS_DIRECTORY) = "
            f"'{directory}': cannot be read ({reason})"
        ) from None
    except SettingsError as exc:
        raise ConfigError(
            f"credentials_directory {directory}: {exc}: a credential holds what its variable "
            "would, lists and records as JSON"
        ) from None


def flatten_settings(data: dict[str, Any], within: str = "") -> list[tuple[str, Any]]:
    """``(dotted name, value)`` for every leaf of a settings dump; lists stay values (the
    harvest ladder's tranches are one setting)."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{within}{key}"
        if isinstance(value, dict):
            out += flatten_settings(value, f"{name}.")
        else:
            out.append((name, value))
    return out


def env_name(dotted: str) -> str:
    """The environment variable of a setting: ``sizing.risk_pct`` -> QUANTUM_SIZING__RISK_PCT
    (systemd's own for what it sets: ``notify_socket`` -> NOTIFY_SOCKET)."""
    if dotted in SYSTEMD_ENV:
        return SYSTEMD_ENV[dotted]
    return "QUANTUM_" + dotted.upper().replace(".", "__")


def _file_values(config_file: Path | None) -> dict[str, Any]:
    if config_file is None:
        return {}
    try:
        values = tomllib.loads(config_file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"--config: {config_file} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config: {config_file} cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {config_file} is not valid TOML ({exc})") from exc
    chosen = values.get("quantum", values)
    return chosen if isinstance(chosen, dict) else {}


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None
    }


def deep_merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """``low`` with ``high`` laid over it, section by section (a settings layering)."""
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaves(values: dict[str, Any], within: str = "") -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        name = f"{within}{key}"
        out += _leaves(value, f"{name}.") if isinstance(value, dict) else [name]
    return out


SECRET_FIELDS = frozenset(
    {
        "url",
        "password",
        "sentinel_password",
        "jwt_secret",
        "binance_api_key",
        "binance_api_secret",
    }
)


def _secrets_masked(value: Any) -> Any:
    """A bad value fit to print: a secret it holds is still a secret."""
    if isinstance(value, dict):
        return {k: "****" if k in SECRET_FIELDS else _secrets_masked(v) for k, v in value.items()}
    return value


def describe(
    exc: ValidationError, values: dict[str, Any], sources: dict[str, str] | None = None
) -> str:
    """One line: the first bad setting, where it was set (the file, the command line, else
    its environment variable), its value and what is expected."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    # A section's own check names its field first ("risk_pct must be in (0, 1]…").
    first = msg.split(" ", 1)[0].rstrip(":")
    if len(loc) == 1 and isinstance(value, dict) and first in value:
        loc, value = [*loc, first], value[first]
    name = ".".join(loc) or "settings"
    value = "****" if loc and loc[-1] in SECRET_FIELDS else _secrets_masked(value)
    source = (sources or {}).get(name, "env")
    where = f"env {env_name(name)}" if source == "env" else source
    if source == "cli":
        where = "command line"
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"unknown setting {name!r} ({where}); see `quantum config show` for valid names"
    return f"invalid setting {name} ({where}) = {value!r}: {msg}"
