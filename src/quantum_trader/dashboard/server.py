"""Serving the dashboard: uvicorn on a socket bound here, inside the caller's event loop
(``quantum run --dashboard`` runs it beside the paper run), loopback unless allowed.

The caller keeps its own signal handling: uvicorn's is switched off, and the server
stops when ``stop()`` is called (open live streams end with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Generator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


class RemoteBindRefused(ValueError):
    """A non-loopback address without the explicit permission to use it."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise RemoteBindRefused(
            f"--host {host} is not a loopback address: the dashboard can close positions, "
            "so it listens on 127.0.0.1 unless you add --allow-remote (and put TLS in front)"
        )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process's signals stay its owner's


@dataclass
class RunningDashboard:
    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start(app: FastAPI, host: str, port: int, allow_remote: bool = False) -> RunningDashboard:
    """Bind ``host:port`` (0: a free port) and serve ``app`` until ``stop()``."""
    check_bind(host, allow_remote)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError("the dashboard stopped while starting")
        await asyncio.sleep(0.01)
    return RunningDashboard(server, task, host, sock.getsockname()[1])
