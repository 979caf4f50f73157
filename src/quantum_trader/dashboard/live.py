"""What changed, as it changes: one tail of the system's streams and keys per dashboard,
fanned out to every open page over server-sent events.

The tail reads new entries of the streams (``XREAD BLOCK``, no consumer group: the
dashboard only watches) and, between reads, fingerprints the keys nothing streams (the
ledger's positions, the risk keys, entry pauses, heartbeats). Each change becomes a
*topic* (``positions``, ``orders``, ``risk``, ``bars``…); a page re-reads the fragments
of the topics it shows. A topic is sent at once, then at most every
``dashboard.live_interval_ms``, so a run stepping hundreds of bars a second costs a
page a few reads a second, never one per bar.

It also keeps what the pages need fast and nothing stores in one place: each symbol's
recent bars and last close, the account at each bar (the equity curve) and the last
exit decision per position (its kill score).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError

from quantum_trader.bus.codec import decode
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import MarketBar, Plan
from quantum_trader.dashboard.context import DashboardContext

log = logging.getLogger(__name__)

BARS_KEPT = 1_500  # per symbol
EQUITY_KEPT = 20_000
EXIT_PLANS_KEPT = 5_000
BACKFILL = 20_000  # market entries read at start (400 symbols x 50 bars)
STREAM_TOPICS = {
    "market": ("bars", "positions"),
    "apply.result": ("orders", "results", "positions"),
    "fills": ("orders", "positions", "journal"),
    "events": ("events", "risk", "services"),
    "dead": ("dead", "services"),
    "audit": ("audit",),
    "apply.exit": ("orders",),
    "apply.plan": ("orders",),
}


@dataclass(frozen=True, slots=True)
class Candle:
    time: int  # open time, ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass
class LiveState:
    """The tail's memory and the pages' subscriptions."""

    ctx: DashboardContext
    interval_s: float = 0.25
    bars: dict[str, deque[Candle]] = field(default_factory=dict)
    marks: dict[str, tuple[Decimal, int]] = field(default_factory=dict)  # close, close time
    equity: deque[tuple[int, Decimal, Decimal]] = field(
        default_factory=lambda: deque(maxlen=EQUITY_KEPT)
    )
    exit_plans: OrderedDict[str, Plan] = field(default_factory=OrderedDict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _subscribers: set[asyncio.Queue[tuple[str, str]]] = field(default_factory=set)
    _pending: dict[str, set[str]] = field(default_factory=dict)  # topic -> symbols
    _sent_at: dict[str, float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _prints: dict[str, Any] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)

    # -- fan-out -------------------------------------------------------------------

    def changed(self, topic: str, symbol: str = "") -> None:
        self._pending.setdefault(topic, set())
        if symbol:
            self._pending[topic].add(symbol)
        self._wake.set()

    def attach(self) -> asyncio.Queue[tuple[str, str]]:
        """A page's queue of (topic, JSON data); ``detach`` it when the page goes."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=256)
        self._subscribers.add(queue)
        return queue

    def detach(self, queue: asyncio.Queue[tuple[str, str]]) -> None:
        self._subscribers.discard(queue)

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                now = loop.time()
                due = [
                    t for t in self._pending if now - self._sent_at.get(t, 0.0) >= self.interval_s
                ]
                for topic in due:
                    symbols = sorted(self._pending.pop(topic))
                    self._sent_at[topic] = now
                    self._send(topic, json.dumps({"symbols": symbols}))
                if self._pending:
                    wait = min(self._sent_at.get(t, 0.0) + self.interval_s for t in self._pending)
                    await asyncio.sleep(max(0.0, wait - loop.time()))

    def _send(self, topic: str, data: str) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a page that stopped reading: it re-reads on the next one
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((topic, data))

    # -- the tail ------------------------------------------------------------------

    async def run(self) -> None:
        """Backfill, then follow the streams and keys until ``closing``."""
        flusher = asyncio.create_task(self._flush_forever())
        backoff = 0.1
        try:
            while not self.closing.is_set():
                try:
                    if not self.ready.is_set():
                        await self._backfill()
                        self.ready.set()
                    await self._follow()
                    backoff = 0.1
                except (RedisError, OSError) as exc:
                    log.warning("dashboard tail: redis unavailable (%s); retrying", exc)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.closing.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self.ready.set()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _backfill(self) -> None:
        redis, keys = self.ctx.redis, self.ctx.keys
        for name in STREAM_TOPICS:
            newest = await redis.xrevrange(keys.stream(name), count=1)
            self._ids[name] = as_text(newest[0][0]) if newest else "0-0"
        entries: Any = await redis.xrevrange(keys.market, count=BACKFILL)
        for _, fields in reversed(entries):
            self._take_bar(fields.get(b"msg", b""))
        plans: Any = await redis.xrevrange(keys.apply_exit, count=EXIT_PLANS_KEPT)
        for _, fields in reversed(plans):
            self._take_exit_plan(fields.get(b"msg", b""))
        await self._poll_keys(force=True)

    async def _follow(self) -> None:
        redis, keys = self.ctx.redis, self.ctx.keys
        streams: dict[Any, Any] = {keys.stream(name): self._ids[name] for name in STREAM_TOPICS}
        reply: Any = await redis.xread(streams, count=2_000, block=100)
        for stream, entries in reply or []:
            name = as_text(stream).removeprefix(f"{keys.prefix}stream:")
            if not entries:
                continue
            self._ids[name] = as_text(entries[-1][0])
            for topic in STREAM_TOPICS.get(name, ()):
                self.changed(topic)
            for _, fields in entries:
                raw = fields.get(b"msg", b"")
                if name == "market":
                    symbol = self._take_bar(raw)
                    if symbol:
                        self.changed("bars", symbol)
                elif name == "apply.exit":
                    self._take_exit_plan(raw)
        await self._poll_keys()

    def _take_bar(self, raw: bytes) -> str:
        try:
            bar = decode(raw)
        except ValueError:
            return ""
        if not isinstance(bar, MarketBar):
            return ""
        candles = self.bars.setdefault(bar.symbol, deque(maxlen=BARS_KEPT))
        candle = Candle(bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume)
        if candles and candles[-1].time == candle.time:
            candles[-1] = candle  # the same bar again (an update of an open bar)
        elif not candles or candles[-1].time < candle.time:
            candles.append(candle)
        observe = getattr(self.ctx.clock, "observe", None)
        if observe is not None:  # a paper run seen from outside: its bars are its time
            observe(bar.close_time + 1)
        mark = self.marks.get(bar.symbol)
        if mark is None or bar.close_time >= mark[1]:
            self.marks[bar.symbol] = (bar.close, bar.close_time)
        return bar.symbol

    def _take_exit_plan(self, raw: bytes) -> None:
        try:
            plan = decode(raw)
        except ValueError:
            return
        if isinstance(plan, Plan) and plan.position_id:
            self.exit_plans[plan.position_id] = plan
            self.exit_plans.move_to_end(plan.position_id)
            while len(self.exit_plans) > EXIT_PLANS_KEPT:
                self.exit_plans.popitem(last=False)

    async def _poll_keys(self, force: bool = False) -> None:
        """Fingerprint what is kept in keys, not streams; a change is a topic."""
        redis, keys = self.ctx.redis, self.ctx.keys
        symbols = sorted(as_text(s) for s in await redis.smembers(keys.positions))
        async with redis.pipeline(transaction=False) as pipe:
            for s in symbols:
                pipe.hmget(keys.position(s), "version", "qty", "stop_price", "ladder_stage")
            pipe.mget(
                keys.risk_state, keys.risk_kill_switch, keys.risk_supervisor, keys.risk_circuit
            )
            pipe.hgetall(keys.sizing_basis)
            replies = await pipe.execute()
        basis = replies.pop()
        risk = replies.pop()
        self._fingerprint("positions", (symbols, replies), force)
        self._fingerprint("risk", risk, force)
        if self._fingerprint("basis", basis, force):
            self._take_basis(basis)
            self.changed("overview")
        loop = asyncio.get_running_loop()
        if force or loop.time() - self._prints.get("_slow_at", 0.0) >= 1.0:
            self._prints["_slow_at"] = loop.time()
            pauses = sorted([as_text(k) async for k in redis.scan_iter(keys.pause_entries("*"))])
            values = await redis.mget(pauses) if pauses else []
            self._fingerprint("risk:pauses", (pauses, values), force, topic="risk")
            self.changed("services")  # heartbeat ages move every second

    def _fingerprint(self, name: str, value: Any, force: bool, topic: str | None = None) -> bool:
        if not force and self._prints.get(name) == value:
            return False
        self._prints[name] = value
        self.changed(topic or name)
        return True

    def _take_basis(self, raw: dict[bytes, bytes]) -> None:
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        try:
            point = (
                int(fields["bar_time"]),
                Decimal(fields["equity"]),
                Decimal(fields["available"]),
            )
        except (KeyError, ValueError, ArithmeticError):
            return
        if not self.equity or self.equity[-1][0] < point[0]:
            self.equity.append(point)

    def mark(self, symbol: str) -> Decimal | None:
        found = self.marks.get(symbol)
        return found[0] if found else None
