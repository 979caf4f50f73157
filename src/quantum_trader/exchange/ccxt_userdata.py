"""Binance user-data stream client: listen key, WebSocket, keepalive, reconnect, gap fill.

Talks to ``<ws_base>/<listenKey>`` with aiohttp directly (not ccxt.pro): we need
Binance's raw event fields as exact decimal strings, control over reconnects, and a
barrier (``sync``). After a drop or a ``listenKeyExpired`` it takes a new key,
reconnects and asks REST for the fills since the last event it saw; fills are de-duplicated
by (symbol, trade id), so an event that arrives both ways is delivered once.

``sync()`` sends a WebSocket ping and waits for its pong: frames on one connection
arrive in order, so every event the server wrote before answering a REST call has been
handled when the pong comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from quantum_trader.exchange import ccxt_codec as codec
from quantum_trader.exchange.interface import (
    AccountUpdate,
    ExchangeError,
    ExecutionEvent,
    OrderRejected,
    OrderUpdate,
)

log = logging.getLogger(__name__)
GapFill = Callable[[int], Awaitable[list[OrderUpdate]]]


class UserDataStream:
    """Feeds parsed execution events into ``queue`` until ``stop()``."""

    def __init__(
        self,
        *,
        ws_base: str,
        new_listen_key: Callable[[], Awaitable[str]],
        keepalive: Callable[[str], Awaitable[None]],
        gap_fill: GapFill,
        queue: asyncio.Queue[ExecutionEvent | None],
        leverage: Mapping[str, int],
        keepalive_s: float = 1800.0,
        reconnect_delay_s: float = 0.05,
    ) -> None:
        self.ws_base = ws_base.rstrip("/")
        self._new_key = new_listen_key
        self._keepalive = keepalive
        self._gap_fill = gap_fill
        self.queue = queue
        self._leverage = leverage
        self.keepalive_s = keepalive_s
        self.reconnect_delay_s = reconnect_delay_s
        self.seen: set[tuple[str, str]] = set()
        self.last_event_ms = 0
        self.reconnects = 0
        self.connected = asyncio.Event()
        self.connected_once = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._pongs: dict[bytes, asyncio.Future[None]] = {}
        self._ping_ids = itertools.count(1)
        self._stopping = False
        self._key = ""

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect once; a first connection refused for good (bad key) raises here."""
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run())
        waiter = asyncio.ensure_future(self.connected.wait())
        done, _ = await asyncio.wait(
            {self._task, waiter}, timeout=timeout_s, return_when="FIRST_COMPLETED"
        )
        waiter.cancel()
        if self._task in done:
            await self.stop()
            self._task.result()
        elif waiter not in done:
            await self.stop()
            raise TimeoutError("user-data stream did not connect")

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def sync(self, timeout_s: float = 5.0) -> None:
        """Wait until every event sent before now has been handled, then fill gaps."""
        ws = self._ws
        if ws is not None and not ws.closed and self.connected.is_set():
            token = str(next(self._ping_ids)).encode()
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pongs[token] = future
            try:
                await ws.ping(token)
                await asyncio.wait_for(future, timeout_s)
            except (TimeoutError, ConnectionError, RuntimeError):
                log.warning("user-data stream did not answer a ping; relying on REST")
            finally:
                self._pongs.pop(token, None)
        await self.fill_gap()

    async def fill_gap(self) -> None:
        for update in await self._gap_fill(self.last_event_ms):
            fill = update.fill
            if fill is None or (fill.symbol, fill.trade_id) in self.seen:
                continue
            self.seen.add((fill.symbol, fill.trade_id))
            self.queue.put_nowait(update)

    # -- the connection loop ----------------------------------------------------------

    async def _run(self) -> None:
        assert self._session is not None
        first, failures = True, 0
        while not self._stopping:
            keeper: asyncio.Task[None] | None = None
            try:
                self._key = await self._new_key()
                async with self._session.ws_connect(
                    f"{self.ws_base}/{self._key}", autoping=False, heartbeat=None
                ) as ws:
                    self._ws = ws
                    if not first:
                        await self.fill_gap()
                    first = False
                    self.connected_once = True
                    self.connected.set()
                    keeper = asyncio.create_task(self._keep(self._key))
                    await self._read(ws)
            except asyncio.CancelledError:
                raise
            except OrderRejected:
                if first:
                    raise  # refused before ever connecting (key, permissions): tell start()
                log.warning("user-data stream: listen key refused; retrying")
            except (aiohttp.ClientError, ExchangeError, OSError, TimeoutError) as exc:
                log.warning("user-data stream failed: %s", type(exc).__name__)
            finally:
                self.connected.clear()
                self._ws = None
                if keeper is not None:
                    keeper.cancel()
            if not self._stopping:
                self.reconnects += 1
                delay = self.reconnect_delay_s * 2 ** min(failures, 7)
                failures = 0 if self.connected_once else failures + 1
                self.connected_once = False
                await asyncio.sleep(delay)

    async def _keep(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._keepalive(key)
            except ExchangeError:
                if self._ws is not None:
                    await self._ws.close()  # the key is gone: reconnect with a new one
                return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                if not self._handle(json.loads(msg.data)):
                    return
            elif msg.type is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is aiohttp.WSMsgType.PONG:
                future = self._pongs.get(bytes(msg.data))
                if future is not None and not future.done():
                    future.set_result(None)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    def _handle(self, event: dict[str, Any]) -> bool:
        """Queue one event; False when the stream must be re-established."""
        kind = event.get("e")
        ts = int(event.get("T") or event.get("E") or 0)
        if kind == "listenKeyExpired":
            return False
        if kind == "ORDER_TRADE_UPDATE":
            o = event["o"]
            ts = int(o.get("T") or ts)
            fill = None
            if o.get("x") == "TRADE" and o.get("t"):
                fill = codec.fill_from_event(o, ts)
                key = (fill.symbol, fill.trade_id)
                if key in self.seen:
                    return True
                self.seen.add(key)
            self.queue.put_nowait(OrderUpdate(codec.order_from_event(o, ts), fill, ts))
        elif kind == "ALGO_UPDATE":
            self.queue.put_nowait(OrderUpdate(codec.algo_from_event(event["o"], ts), None, ts))
        elif kind == "ACCOUNT_UPDATE":
            a = event["a"]
            account = codec.account_from_event(a, ts, self._leverage)
            self.queue.put_nowait(AccountUpdate(account, str(a.get("m", "")), ts))
        else:
            return True
        self.last_event_ms = max(self.last_event_ms, ts)
        return True
