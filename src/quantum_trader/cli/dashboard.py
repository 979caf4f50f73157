"""``quantum dashboard``: the operator's dashboard against a running system, and the
piece of ``quantum run --dashboard PORT`` that serves it beside a paper run.

It finds the system as ``quantum status`` does (``QUANTUM_REDIS_URL`` or the data
directory's embedded Redis; a running paper run's namespace first), listens on
loopback unless ``--allow-remote``, and logs users in from ``dashboard.users``; with
none configured it makes one ``admin`` with a random password, printed here once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from redis.exceptions import RedisError

from quantum_trader.cli.checks import free_loopback_port, unreachable_redis
from quantum_trader.cli.context import err_console, fail, settings
from quantum_trader.infra.connect import NoRedis

if TYPE_CHECKING:
    from quantum_trader.bootstrap.parts import SystemParts
    from quantum_trader.config import Settings
    from quantum_trader.dashboard.context import DashboardContext
    from quantum_trader.dashboard.server import RunningDashboard
    from quantum_trader.ops.paper_run import PaperRun

dashboard_app = typer.Typer(
    help="The operator's dashboard: positions, orders, traces, health, risk; safe actions.",
    invoke_without_command=True,
)


def listenable_port(value: int) -> int:
    """Typer callback for ``--dashboard PORT``: 0, or a loopback port free to listen on
    (refused while parsing, not once the run has started)."""
    return free_loopback_port(value, "no dashboard")


def _password_line(url: str, password: str | None) -> str:
    if password is None:
        return f"dashboard: {url} (users from dashboard.users)"
    return (
        f"dashboard: {url} — user admin, password {password} (generated for this process; "
        "set dashboard.users to choose your own)"
    )


@dashboard_app.callback()
def dashboard_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default dashboard.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default dashboard.port, 8080; 0: any free)."),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (put TLS in front of it)."
        ),
    ] = False,
) -> None:
    """Serve the dashboard until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    s = settings()
    chosen_host = host or s.dashboard.host
    chosen_port = s.dashboard.port if port is None else port
    remote = allow_remote or s.dashboard.allow_remote
    from quantum_trader.dashboard.server import RemoteBindRefused, check_bind

    try:
        check_bind(chosen_host, remote)
    except RemoteBindRefused as exc:
        raise fail(str(exc)) from None
    try:
        asyncio.run(_serve(s, chosen_host, chosen_port, remote))
    except NoRedis as exc:
        raise fail(str(exc)) from None
    except RedisError as exc:
        raise fail(unreachable_redis(exc, lead="cannot talk to Redis")) from None
    except OSError as exc:
        raise fail(str(exc.strerror or exc)) from None


async def _serve(s: Settings, host: str, port: int, allow_remote: bool) -> None:
    from quantum_trader.dashboard.app import build_app
    from quantum_trader.dashboard.launch import for_target, logins
    from quantum_trader.dashboard.server import start

    context = for_target(s)
    await context.redis.ping()
    book, password = logins(s)
    running = await start(build_app(context, book), host, port, allow_remote)
    err_console.print(_password_line(running.url, password), highlight=False)
    err_console.print(f"watching {context.label}; Ctrl-C stops", highlight=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await running.stop()
        await context.redis.aclose()


@dashboard_app.command("hash-password")
def hash_password_command() -> None:
    """Print the argon2 hash of a password (asked twice, not echoed) for dashboard.users."""
    from quantum_trader.dashboard.auth import hash_password

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise fail("use at least 8 characters")
    print(hash_password(password))


class RunDashboard:
    """``quantum run --dashboard PORT``: serve the run's own namespace, on its market
    clock, from the moment its services are built until the run has ended."""

    def __init__(self, s: Settings, port: int, say: Callable[[str], None]) -> None:
        self.settings, self.port, self.say = s, port, say
        self.starting: asyncio.Task[None] | None = None
        self.running: RunningDashboard | None = None
        self.context: DashboardContext | None = None

    def attach(self, run: PaperRun) -> None:
        run.on_trading = lambda parts: self._begin(parts, run.run_id)

    def _begin(self, parts: SystemParts, run_id: str) -> None:
        self.starting = asyncio.get_running_loop().create_task(self._start(parts, run_id))

    async def _start(self, parts: SystemParts, run_id: str) -> None:
        from quantum_trader.dashboard.app import build_app
        from quantum_trader.dashboard.launch import for_parts, logins
        from quantum_trader.dashboard.server import start

        context = self.context = for_parts(parts, run_id)
        book, password = logins(self.settings)
        try:
            self.running = await start(build_app(context, book), "127.0.0.1", self.port)
        except OSError as exc:
            self.say(f"dashboard not started: {exc.strerror or exc}")
            return
        self.say(_password_line(self.running.url, password))

    async def stop(self) -> None:
        if self.starting is not None:
            await self.starting
        if self.running is not None:
            await self.running.stop()
        if self.context is not None:
            await self.context.redis.aclose()
