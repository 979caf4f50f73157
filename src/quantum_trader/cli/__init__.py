"""The ``quantum`` command: one entry point for every service, tool and report."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import ClickException, UsageError  # typer vendors click
from typer.core import TyperGroup

from quantum_trader import __version__
from quantum_trader.cli.checks import unreachable_redis
from quantum_trader.cli.context import (
    err_console,
    fail,
    one_line,
    settings,
    settings_with_sources,
    state,
    usable_data_dir,
)
from quantum_trader.config import (
    ConfigError,
    env_name,
    flatten_settings,
    load_settings,
    load_with_sources,
)


class OneLineErrors(TyperGroup):
    """The root command: whatever a user gets wrong ends in one line on stderr, never a
    traceback — bad options (exit 2), bad settings (2), an unusable data directory (2),
    an unreachable Redis (2) and other operating-system errors (1)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as exc:
            code = _usage_error(exc)
        except typer.Abort:
            err_console.print("aborted", highlight=False)
            code = 1
        except ConfigError as exc:
            code = one_line(str(exc), 2)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            code = one_line(unreachable_redis(exc, _redis_url()), 2)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            code = _os_error(exc)
        sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: ClickException) -> int:
    if exc.__class__.__name__ == "NoArgsIsHelpError":  # help was already shown
        return exc.exit_code
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, UsageError) and ctx is not None:
        message = f"{message.rstrip('.')} (see `{ctx.command_path} -h`)"
    return one_line(message, exc.exit_code)


def _redis_url() -> str | None:
    try:
        return load_settings(state.config_file).redis_url
    except ConfigError:
        return None


def _inside(path: Path, directory: Path) -> bool:
    return path.absolute().is_relative_to(directory.absolute())


def _os_error(exc: OSError) -> int:
    reason = exc.strerror or str(exc)
    where = Path(str(exc.filename)) if exc.filename else None
    try:
        data_dir: Path | None = load_settings(state.config_file).data_dir
    except ConfigError:
        data_dir = None
    if where is not None and data_dir is not None and _inside(where, data_dir):
        return one_line(
            f"QUANTUM_DATA_DIR={data_dir}: cannot use {where} ({reason}); set "
            "QUANTUM_DATA_DIR (or data_dir in the --config file) to a writable directory",
            2,
        )
    if where is not None:
        return one_line(f"{where}: {reason}. Fix: check the path and its permissions", 1)
    return one_line(reason, 1)


app = typer.Typer(
    name="quantum",
    cls=OneLineErrors,
    help="Quantum Trader: crypto futures trading on Redis Streams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
redis_app = typer.Typer(
    help="Control the embedded redis-server (used when QUANTUM_REDIS_URL is unset)."
)
config_app = typer.Typer(help="Inspect the effective configuration.")
app.add_typer(redis_app, name="redis")
app.add_typer(config_app, name="config")
console = Console()


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML settings file (a \\[quantum] table, or settings at top level)."
        ),
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Structured JSON logs on stderr.")
    ] = False,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR.")
    ] = None,
) -> None:
    """Quantum Trader command line."""
    if log_level is not None and log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(f"--log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    state.config_file, state.log_json = config, log_json
    state.log_level = log_level.upper() if log_level else None
    from quantum_trader.runtime.logs import configure_logging

    try:  # the settings' log_level / log_json, with the flags over them
        loaded = load_with_sources(
            config, log_json=True if log_json else None, log_level=state.log_level
        )[0]
        configure_logging(loaded.log_level, loaded.log_json)
    except ConfigError:  # the command reports the bad setting itself, in one line
        configure_logging(state.log_level or "WARNING", log_json)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"quantum-trader {__version__}")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every effective setting, where it came from (cli, env, file or default) and
    its environment variable (secrets masked)."""
    loaded, sources = settings_with_sources()
    rows = [
        (name, value, sources.get(name, "default"), env_name(name))
        for name, value in flatten_settings(loaded.masked())
    ]
    if as_json:
        shown = {name: {"value": v, "source": src, "env": env} for name, v, src, env in rows}
        print(json.dumps(shown, indent=2, default=str))
        return
    table = Table(title="Quantum Trader settings", show_lines=False)
    table.add_column("setting", style="cyan")
    table.add_column("value")
    table.add_column("source")
    table.add_column("env")
    for name, value, source, env in rows:
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        table.add_row(name, text, source, env)
    console.print(table)


@redis_app.command("start")
def redis_start() -> None:
    """Start the embedded redis-server in the data directory and leave it running."""
    from quantum_trader.infra.embedded_redis import EmbeddedRedis, EmbeddedRedisError, read_state

    s = settings()
    usable_data_dir(s)
    running = read_state(s.data_dir / "redis")
    if running:
        console.print(f"already running: {running['url']} (pid {running['pid']})")
        return
    try:
        server = EmbeddedRedis(s.data_dir / "redis").start_detached()
    except EmbeddedRedisError as exc:
        raise fail(str(exc)) from None
    console.print(f"redis-server running at {server.url}; export QUANTUM_REDIS_URL={server.url}")


@redis_app.command("stop")
def redis_stop() -> None:
    """Stop the embedded redis-server started by `quantum redis start`."""
    from quantum_trader.infra.embedded_redis import stop_recorded

    s = settings()
    if stop_recorded(s.data_dir / "redis"):
        console.print("stopped")
    else:
        console.print("not running")


@redis_app.command("status")
def redis_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say whether the embedded redis-server is running, and where."""
    from quantum_trader.infra.embedded_redis import find_binary, read_state

    s = settings()
    running = read_state(s.data_dir / "redis")
    try:
        binary: str | None = find_binary()
    except RuntimeError:
        binary = None
    info = {"running": bool(running), "binary": binary, **(running or {})}
    if as_json:
        print(json.dumps(info))
    elif running:
        console.print(f"running: {running['url']} (pid {running['pid']}), binary {binary}")
    else:
        console.print(f"not running (binary: {binary or 'none found'})")


_mounted: list[bool] = []


def _mount_optional() -> None:
    """Sub-commands that live beside their modules (mounted once per process)."""
    if _mounted:
        return
    _mounted.append(True)
    from quantum_trader.cli.backtest import backtest_command
    from quantum_trader.cli.data import app as data_app
    from quantum_trader.cli.kill_switch import app as risk_app
    from quantum_trader.cli.model import model_app
    from quantum_trader.cli.run import run_command
    from quantum_trader.cli.sim_exchange import app as sim_app
    from quantum_trader.cli.state_marker import app as state_app
    from quantum_trader.cli.status import status_command

    app.add_typer(data_app, name="data", help="Synthesise, load and inspect market data.")
    app.add_typer(risk_app, name="kill-switch", help="Stop all new entries (exits go on).")
    app.add_typer(
        state_app, name="state", help="Whether Redis still holds the system's state; confirm."
    )
    from quantum_trader.cli.chaos import chaos_command
    from quantum_trader.cli.service import service_command

    app.command("run")(run_command)
    app.command("chaos")(chaos_command)
    app.command("service")(service_command)
    app.command("status")(status_command)
    app.command("backtest")(backtest_command)
    app.add_typer(sim_app, name="sim-exchange", help="The simulated exchange over Binance's API.")
    from quantum_trader.cli.drift import drift_command
    from quantum_trader.cli.retrain import retrain_command
    from quantum_trader.cli.train import train_command

    model_app.command("train")(train_command)
    model_app.command("drift")(drift_command)
    model_app.command("retrain")(retrain_command)
    app.add_typer(model_app, name="model", help="Train, list, show, promote signal models.")
    from quantum_trader.cli.hyperopt import hyperopt_app

    app.add_typer(hyperopt_app, name="hyperopt")
    from quantum_trader.cli.strategies import strategies_app

    app.add_typer(strategies_app, name="strategies")
    from quantum_trader.cli.ops_render import ops_app

    app.add_typer(ops_app, name="ops")
    from quantum_trader.cli.dashboard import dashboard_app

    app.add_typer(dashboard_app, name="dashboard")
    from quantum_trader.cli.notify import notify_app

    app.add_typer(notify_app, name="notify")
    from quantum_trader.cli.deploy import deploy_app

    app.add_typer(deploy_app, name="deploy")


def main() -> None:
    _mount_optional()
    try:
        app()
    except ConfigError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
