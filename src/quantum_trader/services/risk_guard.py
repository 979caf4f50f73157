"""The risk guard: account facts, the kill switch and closed trades in; the risk mode out.

An IO shell around ``decide.risk_guard.step_risk``. Every ``interval_s`` it reads the
account (equity, open positions, gross exposure, margin use) and the operator's kill
switch, folds in the trades closed since the last tick, and writes ``risk:state`` as a
plain JSON string (the apply layer's Lua gate reads ``mode`` from it; one key, one type:
FAILURES #9). Every change of mode or reasons is published as a ``risk_mode_changed``
event in the same MULTI as the state, so a blocking mode is never invisible (FAILURES #14).
A tick that changes nothing writes the state and publishes nothing. A real change of mode
is logged as a warning, its event has severity ``warning`` (``info`` for a return to
NORMAL); a change of the reasons under the same mode (e.g. ``consecutive_losses`` taking
over from ``max_gross_exposure`` in REDUCE_ONLY) is logged and published at ``info``
(``RiskGuardStats.mode_changes`` / ``reason_changes`` count them). Limits on account
measures are latched with hysteresis in ``decide.risk_guard``, so a measure hovering at
its limit does not flap the mode.

A failed account read simply does not refresh the equity: it ages until it is stale and
the mode turns REDUCE_ONLY by itself (fail safe). The risk state lives in memory and every
window in it is time-based, so nothing survives a restart by accident (FAILURES #23).
Risk mode blocks entries only; the guard never touches an exit (invariant 4).

Closed trades are positions, as every statistic counts them (a partial take-profit is an
exit of its position, not a trade): each reduce-only fill on the fills stream is folded
into the ledger (idempotent: a no-op when the apply layer, the ledger service or the
reconciler folded it first), and the fill that closes a position counts its net result,
realized PnL less every fee of the position — the number the backtester counts. A closed
position is folded once it has been quiet for ``fill_settle_ms``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from quantum_trader.bus import groups
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.redis_transport import FIELD, as_text
from quantum_trader.bus.schemas import Event, FillEvent, Message, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock
from quantum_trader.decide.position_close import position_closed
from quantum_trader.decide.risk_guard import (
    AccountSnapshot,
    KillSwitch,
    RiskConfig,
    RiskInput,
    RiskState,
    TradeClosed,
    account_snapshot,
    step_risk,
)
from quantum_trader.domain.enums import RiskMode
from quantum_trader.domain.money import ZERO
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.ledger import RedisLedger, fill_from_event
from quantum_trader.services.risk_memory import DurableCopy, RiskMemory
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime

log = structlog.get_logger(__name__)

SERVICE = "risk-guard"
GROUP = groups.RISK_GUARD
QUOTE_ASSET = "USDT"
SEEN_FILLS_CAP = 100_000  # trade ids remembered for dedupe (far beyond a redelivery window)
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class RiskGuardConfig:
    """Limits (``RiskConfig``), tick period and how long an order's fills must be quiet."""

    risk: RiskConfig = field(default_factory=RiskConfig)
    interval_s: float = 1.0
    fill_settle_ms: int = 1_000
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if self.interval_s * 1000 >= self.risk.equity_max_age_ms:
            # Ticking slower than equity ages would flap REDUCE_ONLY between healthy reads.
            raise ValueError("interval_s must be shorter than risk.equity_max_age_ms")
        if self.fill_settle_ms < 0:
            raise ValueError("fill_settle_ms must be >= 0")


@dataclass
class RiskGuardStats:
    ticks: int = 0
    account_failures: int = 0  # account reads that failed (equity left to age)
    fills_seen: int = 0
    trades_closed: int = 0
    losing_trades: int = 0
    late_fills: int = 0  # fills of an order already folded as a closed trade
    mode_changes: int = 0  # real changes of mode (logged as warnings)
    reason_changes: int = 0  # same mode, different reasons (logged at info)


@dataclass
class _OpenClose:
    """A closed position, counted once it has been quiet for ``fill_settle_ms``."""

    pnl: Decimal
    last_fill_ts: int
    received_at: int
    symbol: str = ""


class RiskGuard:
    """Owns ``risk:state``: run exactly one instance (one writer per key)."""

    def __init__(
        self,
        *,
        bus: Bus,
        redis: aioredis.Redis,
        exchange: Exchange,
        clock: Clock,
        config: RiskGuardConfig,
        source: str = SERVICE,
        durable: DurableCopy | None = None,
    ) -> None:
        """``durable``: where the state outlives the process (the data directory's
        safety file); restored here, so a restart keeps a HALT or a lockout."""
        self.bus = bus
        self.redis = redis
        self.exchange = exchange
        self.clock = clock
        self.config = config
        self.source = source
        self.memory = RiskMemory(durable)
        self.state = self.memory.restore()
        self.stats = RiskGuardStats()
        self.ledger = RedisLedger(redis, bus.keys)
        self._closing: dict[str, _OpenClose] = {}  # position id -> its closed result
        self._seen_fills: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._counted: dict[str, None] = {}  # position ids already counted

    # -- fills -> closed trades ------------------------------------------------------

    async def handle_fill(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, FillEvent):
            raise TypeError(f"risk guard got {type(message).__name__}")
        fill = message
        if not _remember(self._seen_fills, (fill.symbol, fill.trade_id)):
            return  # redelivered
        self.stats.fills_seen += 1
        if not fill.reduce_only:
            return
        domain_fill = fill_from_event(fill)
        await self.ledger.record_fill(domain_fill)
        closed = await self.ledger.closed_by(fill.symbol, fill.trade_id)
        if closed is None:
            return  # a partial exit: the position lives on
        if closed.position_id in self._counted or closed.position_id in self._closing:
            self.stats.late_fills += 1
            return  # counted once already
        trade = position_closed(closed, fill.ts_event, 0).trade
        self._closing[closed.position_id] = _OpenClose(
            trade.pnl, trade.ts, self.clock.now_ms(), fill.symbol
        )

    def _settled(self, now: int) -> list[tuple[str, _OpenClose]]:
        quiet = self.config.fill_settle_ms
        done = [(o, c) for o, c in self._closing.items() if now - c.received_at >= quiet]
        # Closes of one instant in symbol order, as the backtester's step takes them: a
        # losing streak must not depend on which of them the stream delivered first.
        return sorted(done, key=lambda item: (item[1].last_fill_ts, item[1].symbol))

    # -- the tick --------------------------------------------------------------------

    async def tick(self) -> None:
        """One risk check: read facts, fold, write ``risk:state`` (+ event on change)."""
        now = self.clock.now_ms()
        inputs: list[RiskInput] = []
        snapshot = await self._account_snapshot(now)
        if snapshot is not None:
            inputs.append(snapshot)
        inputs.append(await self._kill_switch())
        settled = self._settled(now)
        inputs += [TradeClosed(close.pnl, close.last_fill_ts) for _, close in settled]

        before = self.state
        after = before
        for event in [*inputs, None]:
            after, _ = step_risk(after, event, self.config.risk, now)
        # One net change per tick: the order inputs are folded in is not a transition
        # an operator should see (e.g. REDUCE_ONLY -> NORMAL -> HALT within one ms).
        if after.mode is before.mode:
            after = replace(after, since=before.since)
        changed = after.mode is not before.mode or after.reasons != before.reasons
        await self._write(before, after, now, changed)

        self.state = after  # committed only once written: a failed write is redone
        for order, close in settled:
            del self._closing[order]
            _remember(self._counted, order)
            self.stats.trades_closed += 1
            self.stats.losing_trades += close.pnl < ZERO
        self.stats.ticks += 1
        if after.mode is not before.mode:
            self.stats.mode_changes += 1
            log.warning(
                "risk mode changed", mode=after.mode, previous=before.mode, reasons=after.reasons
            )
        elif changed:
            self.stats.reason_changes += 1
            log.info("risk reasons changed", mode=after.mode, reasons=after.reasons)

    async def _account_snapshot(self, now: int) -> AccountSnapshot | None:
        try:
            account = await self.exchange.account()
        except Exception:
            self.stats.account_failures += 1
            log.warning("account read failed; equity left to age", exc_info=True)
            return None
        open_positions = [p for p in account.positions if p.qty != ZERO]
        # The read just returned: that is its freshness (``now``). An exchange's own
        # update time says when the account last changed, which a quiet account never does.
        return account_snapshot(
            account.margin_balance,
            account.initial_margin,
            len(open_positions),
            sum((abs(p.qty * p.mark_price) for p in open_positions), ZERO),
            now,
        )

    async def _kill_switch(self) -> KillSwitch:
        """Present = engaged, whatever its content: the Lua gate checks EXISTS as well."""
        try:
            raw = await self.redis.get(self.bus.keys.risk_kill_switch)
        except ResponseError:
            return KillSwitch(True, "kill switch key has the wrong type")
        if raw is None:
            return KillSwitch(False)
        try:
            data = json.loads(as_text(raw))
            reason = str(data.get("reason") or "manual") if isinstance(data, dict) else "manual"
        except ValueError:
            reason = "unreadable kill switch value"
        return KillSwitch(True, reason)

    async def _write(self, before: RiskState, after: RiskState, now: int, changed: bool) -> None:
        self.memory.remember(after)  # first: Redis may refuse the write, the disk not
        payload = risk_state_json(after, now)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.bus.keys.risk_state, payload)
            if changed:
                event = mode_changed_event(before, after, now, self.source)
                pipe.xadd(
                    self.bus.keys.events,
                    {FIELD: encode(event)},
                    maxlen=self.bus.maxlen,
                    approximate=True,
                )
            await pipe.execute()

    # -- wiring ----------------------------------------------------------------------

    def consumer(self, consumer_name: str) -> StreamConsumer:
        fills = self.bus.keys.fills
        return StreamConsumer(
            self.bus,
            [fills],
            GROUP,
            consumer_name,
            self.handle_fill,
            expect={fills: (FillEvent,)},
            config=self.config.consumer,
        )

    def runtime(
        self, *, health: RedisHealthWriter, consumer_name: str, heartbeat_interval_s: float = 1.0
    ) -> ServiceRuntime:
        return ServiceRuntime(
            SERVICE,
            self.clock,
            self.bus.keys,
            health,
            consumers=[self.consumer(consumer_name)],
            heartbeat_interval_s=heartbeat_interval_s,
            jobs=[PeriodicJob("risk-check", self.config.interval_s, self.tick)],
        )


def risk_state_json(state: RiskState, now: int) -> str:
    """The ``risk:state`` value: what the Lua gate, the dashboard and the CLI read."""
    return json.dumps(
        {
            "mode": state.mode.value,
            "reasons": list(state.reasons),
            "since": state.since,
            "updated_at": now,
        },
        separators=(",", ":"),
    )


def mode_changed_event(before: RiskState, after: RiskState, now: int, source: str) -> Event:
    added = [r for r in after.reasons if r not in before.reasons]
    removed = [r for r in before.reasons if r not in after.reasons]
    shown = ", ".join(after.reasons) or "no active reasons"
    return Event(
        msg_id=derive_id("risk_mode_changed", now, before.mode, before.reasons, after.reasons),
        ts_event=now,
        ts_init=now,
        source=source,
        kind="risk_mode_changed",
        severity=mode_change_severity(before.mode, after.mode),
        risk_mode=after.mode,
        detail=f"{before.mode.value} -> {after.mode.value}: {shown}",
        evidence={
            "added": ",".join(added),
            "removed": ",".join(removed),
            "reasons": ",".join(after.reasons),
            "previous_mode": before.mode.value,
        },
    )


def mode_change_severity(before: RiskMode, after: RiskMode) -> str:
    """``warning`` for a real change into a blocking mode; ``info`` for a recovery to NORMAL
    or for a change of reasons only (same mode)."""
    return "warning" if after is not before and after is not RiskMode.NORMAL else "info"


def _remember(seen: dict[K, None], key: K) -> bool:
    """Add ``key`` to a bounded insertion-ordered set; False when it was already there."""
    if key in seen:
        return False
    seen[key] = None
    if len(seen) > SEEN_FILLS_CAP:
        del seen[next(iter(seen))]
    return True


def build_risk_guard(
    *,
    bus: Bus,
    redis: aioredis.Redis,
    exchange: Exchange,
    clock: Clock,
    config: RiskGuardConfig,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
    durable: DurableCopy | None = None,
) -> ServiceRuntime:
    """The risk-guard service, ready for ``ServiceRuntime.run()``. Run one instance."""
    guard = RiskGuard(
        bus=bus, redis=redis, exchange=exchange, clock=clock, config=config, durable=durable
    )
    return guard.runtime(
        health=RedisHealthWriter(redis),
        consumer_name=consumer_name,
        heartbeat_interval_s=heartbeat_interval_s,
    )
