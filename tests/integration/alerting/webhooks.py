"""A local HTTP server standing in for webhooks and chat APIs: it records every request
(path, JSON body, the time on a given clock) and answers what a test scripts for a path
— a status with headers and a body, or no answer at all (the request hangs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from quantum_trader.clock import Clock


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    hang: bool = False  # never answer (the client's timeout ends it)


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    at: int | None  # the clock's ms when it arrived


@dataclass
class Webhooks:
    clock: Clock | None = None
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=dict)  # path -> next replies
    always: dict[str, Reply] = field(default_factory=dict)  # path -> every reply
    base: str = ""
    _runner: web.AppRunner | None = None
    _hung: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.at(path)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body = json.loads(await request.read() or b"{}")
        self.received.append(Received(path, body, self.clock.now_ms() if self.clock else None))
        queued = self.scripts.get(path)
        reply = queued.pop(0) if queued else self.always.get(path, Reply())
        if reply.hang:
            await self._hung.wait()  # released at stop
        return web.Response(status=reply.status, headers=reply.headers, text=reply.body)

    async def start(self) -> Webhooks:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        self._hung.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Yield to the loop until ``condition`` holds (local IO needs real turns of the
    loop; no simulated time passes meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0)  # a turn of the loop: its sockets are polled
