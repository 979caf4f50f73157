"""Carries out the scheduled faults against the running system.

Each fault is an action an operator, an exchange or an infrastructure failure could do:
process kills, a Redis restart, exchange fault profiles held for a short window, user-
data stream faults, re-delivered and reordered messages, garbage on every stream, a key
of the wrong type, clock skew, hand trading on the exchange and margin exhaustion. What
was done is recorded (with the exchange time and, where it matters, the symbol and the
garbage entry ids) so the checker can tell injected facts from the system's own acts.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import TradeIntent, derive_id
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.chaos.schedule import Fault
from quantum_trader.ops.chaos.store_faults import StoreFaults
from quantum_trader.ops.stepped.faults import FaultContext, Kept
from quantum_trader.ops.stepped.processes import ServiceProcesses
from quantum_trader.runtime.follow_clock import skew_key

PROFILE_OF: dict[str, list[dict[str, Any]]] = {
    "exchange_5xx": [{"profile": "server_error"}, {"profile": "internal_error"}],
    "exchange_429": [{"profile": "rate_limit_burst"}, {"profile": "order_rate_limit"}],
    "exchange_latency": [{"profile": "none", "latency_ms": 40, "latency_jitter_ms": 60}],
    "accepted_timeout": [{"profile": "lost_response"}],
    "unknown_status": [{"profile": "status_unknown"}, {"profile": "unknown_before"}],
    "drop_events": [{"profile": "drop_events"}],
    "delay_events": [{"profile": "delay_events"}],
}
REDELIVERED = ("apply.plan", "apply.exit", "trade.intent", "fills")
GARBAGE: tuple[dict[str, str], ...] = (
    {"msg": "not json at all {"},
    {"msg": '{"type": "apply.plan", "schema_version": 1}'},
    {"payload": '{"data": 1}'},
    {"msg": '{"type": "no.such.type", "msg_id": "x"}'},
)
UNUSED_SYMBOL = "CHAOSUNUSEDUSDT"
EXTRA_EXECUTORS = ("apply-layer#2", "apply-layer#3")  # beside the supervised apply-layer


@dataclass(frozen=True, slots=True)
class Injected:
    bar: int
    kind: str
    at: int  # exchange time
    params: dict[str, object]


@dataclass
class Injector:
    redis: aioredis.Redis
    redis_server: EmbeddedRedis
    procs: ServiceProcesses
    session: aiohttp.ClientSession
    admin_url: str
    bus: Bus
    sim: SimExchange
    clock_key: str
    seed: int
    requests: Callable[[], list[dict[str, Any]]]  # the exchange front's request log
    store_faults: StoreFaults
    schedule: list[Fault] = field(default_factory=list)
    kinds: tuple[str, ...] = ()
    window_s: float = 0.06
    done: list[Injected] = field(default_factory=list)
    hand: list[tuple[str, int]] = field(default_factory=list)  # (symbol, ts) touched by hand
    garbage: list[tuple[str, str]] = field(default_factory=list)  # (stream, entry id)
    windows: list[list[dict[str, Any]]] = field(default_factory=list)
    later: list[tuple[int, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    # Process faults armed to strike at the exchange's next order, oldest first (so a
    # SIGSTOP armed after a SIGKILL still gets its turn when orders are scarce).
    armed: list[str] = field(default_factory=list)  # "kill" | "stop"
    seen_orders: set[str] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    bar: int = 0
    liveness_s: float = 5.0  # the services' heartbeat TTL: a stopped one is gone after it

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed + 1)

    @classmethod
    def for_run(
        cls, context: FaultContext, schedule: list[Fault], kinds: tuple[str, ...], seed: int
    ) -> Injector:
        c = context
        return cls(
            c.redis,
            c.redis_server,
            c.procs,
            c.session,
            c.admin_url,
            c.bus,
            c.sim,
            c.clock_key,
            seed,
            requests=c.requests,
            store_faults=StoreFaults(
                c.redis, c.bus.keys, c.store, c.clock_key, lambda: c.sim.core.now_ms
            ),
            schedule=schedule,
            kinds=kinds,
            liveness_s=c.liveness_s,
        )

    # -- what the stepped run asks of its faults (``stepped.faults.Faults``) ----------

    @property
    def kept(self) -> Kept:
        return self.store_faults.kept

    @property
    def halts(self) -> list[tuple[int, int]]:
        return self.store_faults.halts

    def strike(self) -> bool:
        return self.maybe_kill_mid_order()

    def holding(self) -> bool:
        return self.store_faults.starving

    def counts(self) -> dict[str, int]:
        done = Counter(f.kind for f in self.done)
        return {k: done.get(k, 0) for k in self.kinds}

    def struck(self) -> dict[str, int]:
        return self.store_faults.struck()

    async def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        method = "GET" if body is None else "POST"
        async with self.session.request(method, f"{self.admin_url}{path}", json=body) as r:
            return await r.json()

    def now(self) -> int:
        return self.sim.core.now_ms

    async def before_bar(self, bar: int) -> None:
        """Run what is due at ``bar``: deferred repairs first, then the new faults."""
        self.bar = bar
        faults = [f for f in self.schedule if f.bar == bar]
        due = [job for at, job in self.later if at <= bar]
        self.later = [(at, job) for at, job in self.later if at > bar]
        for job in due:
            await job()
        self.windows = []
        for fault in faults:
            await self._inject(bar, fault)
            self.done.append(Injected(bar, fault.kind, self.now(), dict(fault.params)))

    async def during_bar(self) -> None:
        """Hold this bar's exchange fault profiles, one short window each."""
        for profiles in self.windows:
            for body in profiles:
                await self.admin("/admin/faults", body)
                await asyncio.sleep(self.window_s)
            await self.admin("/admin/faults", {"profile": "none"})
            if profiles[0].get("profile") == "delay_events":
                await self.admin("/admin/events/release", {})

    def maybe_kill_mid_order(self) -> bool:
        """Called while the bar settles: SIGKILL or SIGSTOP the apply layer, or starve
        Redis, once the exchange has a new order (an entry, for the starving)."""
        if not (self.armed or self.store_faults.oom_armed):
            return False
        for cid in self._new_orders():
            if self.armed:
                if self.armed.pop(0) == "kill":
                    self.procs.restart("apply-layer")
                else:
                    self._pause_executor()
                return True
            if self.store_faults.maybe_starve(is_entry(cid), self.bar):
                return True
        return self.store_faults.maybe_starve(False, self.bar)

    def _new_orders(self) -> Iterator[str]:
        """Client ids of this system's orders the exchange has that were not seen yet."""
        for req in self.requests():
            cid = str(req.get("params", {}).get("newClientOrderId", ""))
            if req.get("method") == "POST" and cid.startswith("q") and cid not in self.seen_orders:
                self.seen_orders.add(cid)
                yield cid

    def _pause_executor(self) -> None:
        """SIGSTOP the apply layer mid-order with another executor beside it; once its
        liveness key expired, a copy of its latest entry plan goes out (the other may take
        it over), then SIGCONT: it wakes up holding a reservation that may be gone."""
        if not self.procs.pause("apply-layer"):
            return
        if not self.procs.alive(EXTRA_EXECUTORS[0]):
            self.procs.start(EXTRA_EXECUTORS[0])
        loop = asyncio.get_running_loop()

        async def wake() -> None:
            await asyncio.sleep(self.liveness_s + 1.0)
            await self._redeliver_latest_entry()
            await asyncio.sleep(0.5)
            self.procs.resume("apply-layer")

        self.tasks.append(loop.create_task(wake()))
        self.later.append((self.bar + 3, self._stop_extras))

    async def _redeliver_latest_entry(self) -> None:
        newest: list[Any] = list(
            await self.redis.xrevrange(self.bus.keys.apply_plan, count=1) or []
        )
        for _, fields in newest:
            if fields and b"msg" in fields:
                await self.redis.xadd(self.bus.keys.apply_plan, {"msg": fields[b"msg"]})

    async def _start_extras(self) -> None:
        for name in EXTRA_EXECUTORS:
            if not self.procs.alive(name):
                self.procs.start(name)
        await self._redeliver(10, reverse=False)

    async def _stop_extras(self) -> None:
        for name in EXTRA_EXECUTORS:
            self.procs.stop_extra(name)

    async def _inject(self, bar: int, fault: Fault) -> None:
        p, kind = fault.params, fault.kind
        if kind == "kill_service":
            self.procs.restart(str(p["service"]))
        elif kind == "kill_mid_order":
            self._orders_so_far()
            self.armed.append("kill")
        elif kind == "redis_restart":
            await asyncio.to_thread(self._restart_redis, bar % 2 == 0)
            await self.redis.connection_pool.disconnect()
        elif kind in PROFILE_OF:
            self.windows.append([self.rng.choice(PROFILE_OF[kind])])
        elif kind == "ws_drop":
            await self.admin("/admin/ws/drop", {})
        elif kind == "listen_key_expiry":
            await self.admin("/admin/listenkey/expire", {})
        elif kind in ("duplicate_delivery", "reorder_delivery"):
            await self._redeliver(int(str(p["count"])), reverse=kind == "reorder_delivery")
        elif kind == "manual_open":
            await self._open_by_hand(str(p["symbol"]), str(p["side"]), Decimal(3))
        elif kind == "manual_close":
            await self._close_by_hand(str(p["symbol"]))
        elif kind == "manual_stop_cancel":
            await self._cancel_stop(str(p["symbol"]))
        elif kind == "margin_exhaustion":
            symbol = str(p["symbol"])
            await self._exhaust_margin(symbol, str(p["side"]))
            self.later.append((bar + 2, lambda: self._close_by_hand(symbol)))
        elif kind == "signal_burst":
            await self._burst(str(p["symbol"]), int(str(p["copies"])))
        elif kind == "malformed":
            await self._garbage()
        elif kind == "wrong_type_key":
            await self._wrong_type(bar)
        elif kind == "clock_skew":
            await self._skew(bar, str(p["service"]), int(str(p["skew_ms"])))
        elif kind == "extra_executors":
            await self._start_extras()
            self.later.append((bar + 3, self._stop_extras))
        elif kind == "stop_mid_order":
            self._orders_so_far()
            self.armed.append("stop")
        elif kind == "state_loss":
            await self.store_faults.lose_state(self.garbage)
            self.later.append((bar + 1, self._confirm_state))
        elif kind == "redis_oom":
            self._orders_so_far()
            self.store_faults.arm_oom(bar)

    async def _confirm_state(self) -> None:
        if not await self.store_faults.confirm():
            self.later.append((self.bar + 1, self._confirm_state))

    def _orders_so_far(self) -> None:
        """What the exchange has seen already: a fault armed now strikes at the next."""
        self.seen_orders |= {
            str(r.get("params", {}).get("newClientOrderId", "")) for r in self.requests()
        }

    def _restart_redis(self, crash: bool) -> None:
        """A crash (SIGKILL: the AOF decides what survives) or a clean restart."""
        if crash:
            self.redis_server.kill()
            self.redis_server.start()
        else:
            self.redis_server.restart()

    async def _redeliver(self, count: int, *, reverse: bool) -> None:
        for name in REDELIVERED:
            stream = self.bus.keys.stream(name)
            entries: list[Any] = list(await self.redis.xrevrange(stream, count=count * 4) or [])
            picked = [e for e in entries if e[1] and b"msg" in e[1]]
            if not reverse:
                picked = self.rng.sample(picked, min(count, len(picked)))
            for _entry_id, fields in picked[:count]:
                await self.redis.xadd(stream, {"msg": fields[b"msg"]})

    async def _garbage(self) -> None:
        for name in (
            "market",
            "trade.intent",
            "apply.plan",
            "apply.exit",
            "apply.result",
            "fills",
            "events",
        ):
            stream = self.bus.keys.stream(name)
            fields: dict[Any, Any] = dict(self.rng.choice(GARBAGE))
            entry = await self.redis.xadd(stream, fields)
            self.garbage.append((stream, as_text(entry)))

    def _qty(self, symbol: str, notional: Decimal) -> Decimal:
        inst = self.sim.core.instrument(symbol)
        price = self.sim.core.last_price(symbol)
        steps = (notional / price / inst.market_step_size).to_integral_value(ROUND_CEILING)
        qty = max(steps * inst.market_step_size, inst.market_min_qty)
        return min(qty, inst.market_max_qty.quantize(inst.market_step_size))

    async def _open_by_hand(self, symbol: str, side: str, multiple: Decimal) -> bool:
        inst = self.sim.core.instrument(symbol)
        qty = self._qty(symbol, inst.min_notional * multiple)
        reply = await self.admin(
            "/admin/position/open", {"symbol": symbol, "side": side, "qty": str(qty)}
        )
        self.hand.append((symbol, self.now()))
        return "clientOrderId" in reply

    async def _close_by_hand(self, symbol: str) -> None:
        await self.admin("/admin/position/close", {"symbol": symbol})
        self.hand.append((symbol, self.now()))

    async def _cancel_stop(self, symbol: str) -> None:
        for order in self.sim.core.open_orders(symbol):
            if order.type.is_conditional and (order.reduce_only or order.close_position):
                await self.admin(
                    "/admin/order/cancel",
                    {"symbol": symbol, "client_order_id": order.client_order_id},
                )
                self.hand.append((symbol, self.now()))
                return

    async def _exhaust_margin(self, symbol: str, side: str) -> None:
        available = self.sim.core.account().available_balance
        for fraction in ("15", "8", "4", "2"):  # × available: leverage makes it fit, or not
            qty = self._qty(symbol, available * Decimal(fraction))
            reply = await self.admin(
                "/admin/position/open", {"symbol": symbol, "side": side, "qty": str(qty)}
            )
            if "clientOrderId" in reply:
                self.hand.append((symbol, self.now()))
                return

    async def _burst(self, symbol: str, copies: int) -> None:
        now = self.bus.clock.now_ms()
        price = self.sim.core.last_price(symbol)
        side = self.rng.choice([PositionSide.LONG, PositionSide.SHORT])
        intent_id = derive_id("burst", symbol, now, side.value)
        intent = TradeIntent(
            msg_id=intent_id,
            ts_event=now,
            ts_init=now,
            source="chaos",
            intent_id=intent_id,
            symbol=symbol,
            side=side,
            confidence=0.9,
            strategy="trend_ema",
            interval="1m",
            bar_time=now,
            reference_price=price,
            stop_distance=(price / 50).quantize(self.sim.core.instrument(symbol).tick_size)
            or self.sim.core.instrument(symbol).tick_size,
            expires_at=now + 60_000,
        )
        for _ in range(copies):
            await self.bus.publish(self.bus.keys.trade_intent, intent)

    async def _wrong_type(self, bar: int) -> None:
        keys = self.bus.keys
        key = keys.position(UNUSED_SYMBOL) if bar % 2 else keys.bus_failures
        saved = await self.redis.dump(key)
        await self.redis.delete(key)
        await self.redis.set(key, "wrong type on purpose")

        async def repair() -> None:
            await self.redis.delete(key)
            if saved is not None:
                await self.redis.restore(key, 0, saved)

        self.later.append((bar + 1, repair))

    async def _skew(self, bar: int, service: str, skew_ms: int) -> None:
        await self.redis.hset(skew_key(self.clock_key), service, str(skew_ms))

        async def restore() -> None:
            await self.redis.hdel(skew_key(self.clock_key), service)

        self.later.append((bar + 2, restore))

    async def finish(self) -> None:
        """Undo whatever is still in force (repairs, skews, hand positions for margin)."""
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store_faults.finish()
        self.procs.resume("apply-layer")
        jobs, self.later = self.later, []
        for _, job in jobs:  # a confirmation not possible yet stays due for the quiet bars
            await job()
        await self.admin("/admin/faults", {"profile": "none"})
        await self.admin("/admin/events/release", {})
