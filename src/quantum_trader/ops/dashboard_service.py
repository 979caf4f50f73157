"""``quantum service dashboard``: the operator's dashboard as a service process.

The same dashboard as ``quantum dashboard`` (it finds the system as ``quantum status``
does, listens on ``dashboard.host`` / ``dashboard.port``, on loopback unless
``dashboard.allow_remote``, and logs users in from ``dashboard.users``), with nothing
asked on the command line, so a unit runs it like every other service: it tells its
systemd unit READY once it listens, WATCHDOG while its server runs, STOPPING at SIGTERM,
and exits non-zero when the server dies. It needs no exchange: its actions go through
the streams.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from redis.exceptions import RedisError

from quantum_trader.config import Settings
from quantum_trader.dashboard.app import build_app
from quantum_trader.dashboard.launch import for_target, logins
from quantum_trader.dashboard.server import RemoteBindRefused, check_bind, start
from quantum_trader.ops.service_run import keep_alive, systemd_notify

NAME = "dashboard"


async def run_dashboard_service(settings: Settings) -> int:
    """Serve until SIGTERM / SIGINT: 0 then, 1 when the server died or could not start,
    2 for a remote address without ``dashboard.allow_remote``."""
    chosen = settings.dashboard
    try:
        check_bind(chosen.host, chosen.allow_remote)
    except RemoteBindRefused:
        print(f"{NAME}: dashboard.host {chosen.host} is not a loopback address: the "
              "dashboard can close positions; set dashboard.allow_remote "
              "(QUANTUM_DASHBOARD__ALLOW_REMOTE=true) and put TLS in front, or listen on "
              "127.0.0.1", flush=True)  # fmt: skip
        return 2
    context = for_target(settings)
    try:
        await context.redis.ping()
        book, password = logins(settings)
        running = await start(build_app(context, book), chosen.host, chosen.port, True)
    except (RedisError, OSError) as exc:
        print(f"{NAME}: cannot start: {exc}", flush=True)
        await context.redis.aclose()
        return 1
    if password is None:
        print(f"{NAME}: {running.url} (users from dashboard.users)", flush=True)
    else:  # a unit should configure its users; this one lasts until the process ends
        print(f"{NAME}: {running.url} — user admin, password {password} (generated; set "
              "dashboard.users to choose your own)", flush=True)  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    async def serving() -> bool:
        return not running.task.done()

    try:
        unit = systemd_notify(settings)
        await keep_alive(unit, NAME, settings.heartbeat_interval_ms / 1000, stop, serving)
        if not stop.is_set():
            print(f"{NAME}: the server stopped on its own", flush=True)
            return 1
        return 0
    finally:
        await running.stop()
        await context.redis.aclose()
