"""What every ``quantum`` sub-command shares: the global options, the settings they
resolve to, and the one-line error. Sub-commands import this, never the root command, so
the command line has no import cycle."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from quantum_trader.cli.checks import check_redis_url, writable_dir
from quantum_trader.config import ConfigError, Settings, load_with_sources

err_console = Console(stderr=True)


def one_line(message: str, code: int) -> int:
    text = " ".join(message.split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    return code


class _State:
    config_file: Path | None = None
    log_json: bool = False
    log_level: str | None = None


state = _State()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise (no traceback)."""
    one_line(message, code)
    return typer.Exit(code)


def settings(**overrides: object) -> Settings:
    """Effective settings for a command; a bad value ends the command with one line.
    ``--log-json`` / ``--log-level`` are CLI overrides of ``log_json`` / ``log_level``."""
    return settings_with_sources(**overrides)[0]


def settings_with_sources(**overrides: object) -> tuple[Settings, dict[str, str]]:
    flags = {"log_json": True if state.log_json else None, "log_level": state.log_level}
    try:
        loaded, sources = load_with_sources(state.config_file, **{**flags, **overrides})
        check_redis_url(loaded.redis_url)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return loaded, sources


def usable_data_dir(s: Settings) -> Path:
    """The data directory, created and proven writable (one line naming QUANTUM_DATA_DIR)."""
    try:
        return writable_dir(s.data_dir, "QUANTUM_DATA_DIR")
    except ConfigError as exc:
        raise fail(str(exc)) from None
