"""One typed, frozen settings object for every service and command.

Sources, highest first: keyword overrides (CLI flags), environment (prefix ``QUANTUM_``;
``TRADING_SYMBOLS`` is accepted too, as the original system's operators expect), an
optional TOML file (``--config``), defaults. Invalid input becomes one ``ConfigError``
line naming the setting, the value and what is expected.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Mode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    DEMO = "demo"
    LIVE = "live"


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


class Settings(BaseSettings):
    """Everything configurable. Frozen: build a new one with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(
        env_prefix="QUANTUM_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        populate_by_name=True,
    )

    mode: Mode = Mode.PAPER
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset = start an embedded redis-server"
    )
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

    # exchange credentials: environment or secret file only, never logged
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None

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
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"--config: {config_file} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {config_file} is not valid TOML ({exc})") from exc
        file_values = file_values.get("quantum", file_values)
    values = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        # File values are init kwargs; env vars must still beat the file, so read env
        # first and let explicit overrides win last.
        env_only = Settings()
        merged = {**file_values, **_explicit_env(env_only), **overrides}
        merged = {k: v for k, v in merged.items() if v is not None}
        return Settings(**merged) if merged else env_only
    except ValidationError as exc:
        raise ConfigError(describe(exc, values)) from None


def _explicit_env(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.model_fields_set}


def describe(exc: ValidationError, values: dict[str, Any]) -> str:
    """One line: the first bad setting, its value and what is expected."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "settings"
    value = err.get("input", values.get(name))
    env = f"QUANTUM_{name.upper()}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"unknown setting {name!r} (env {env}); see `quantum config show` for valid names"
    return f"invalid setting {name} (env {env}) = {value!r}: {msg}"
