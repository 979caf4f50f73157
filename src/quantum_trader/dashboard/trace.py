"""The path of one trade, from the signal to the exit, with times and reasons.

A position's id is ``SYMBOL:<client id of the order that opened it>`` and that id is
derived from the entry plan's id, so the plan is found on ``apply.plan``; from it, the
signal it came from (``trade.intent``, by its correlation id), the gate's decision and
the order (``apply.result``), the exit decisions on the position (``apply.exit``: stop
moves, harvest tranches, the close — each with its result), every fill of those orders
and of the protective stops (``fills``, and the journal's fills where the stream is
trimmed), the events on the symbol meanwhile, the operator's actions on it, and the
journal's record of the close. Streams are read from the entry plan's own entry on
(Redis stream ids are times), so a trace costs what the trade's lifetime holds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quantum_trader.bus.codec import decode
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import (
    ApplyResult,
    Event,
    FillEvent,
    Message,
    OperatorAction,
    Plan,
    TradeIntent,
)
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.reads import fill_row
from quantum_trader.decide.order_requests import entry_order_id, exit_order_id
from quantum_trader.domain.enums import PlanAction, PlanKind
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import is_stop
from quantum_trader.domain.timefmt import iso_or_none
from quantum_trader.services.ledger import RedisLedger

CHUNK = 2_000
SCAN_LIMIT = 60_000  # entries read back looking for the entry plan
LOOKBACK_MS = 15 * 60_000  # wall ms before the plan's entry the signal may be


def _ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


async def _scan(
    ctx: DashboardContext, stream: str, needle: bytes, start: str = "-", end: str = "+"
) -> list[tuple[str, Message]]:
    """Entries of ``stream`` between ids whose raw message contains ``needle``, in order."""
    out: list[tuple[str, Message]] = []
    cursor = start
    while True:
        batch: Any = await ctx.redis.xrange(stream, min=cursor, max=end, count=CHUNK)
        for entry_id, fields in batch:
            raw = fields.get(b"msg", b"")
            if needle in raw:
                try:
                    out.append((as_text(entry_id), decode(raw)))
                except ValueError:
                    continue
        if len(batch) < CHUNK:
            return out
        cursor = "(" + as_text(batch[-1][0])


async def _entry_plan(ctx: DashboardContext, symbol: str, coid: str) -> tuple[str, Plan] | None:
    needle, end, read = f'"symbol":"{symbol}"'.encode(), "+", 0
    while read < SCAN_LIMIT:
        batch: Any = await ctx.redis.xrevrange(ctx.keys.apply_plan, max=end, count=CHUNK)
        for entry_id, fields in batch:
            raw = fields.get(b"msg", b"")
            if needle not in raw:
                continue
            try:
                plan = decode(raw)
            except ValueError:
                continue
            if (
                isinstance(plan, Plan)
                and plan.kind is PlanKind.OPEN
                and entry_order_id(plan.plan_id) == coid
            ):
                return as_text(entry_id), plan
        read += len(batch)
        if len(batch) < CHUNK:
            return None
        end = "(" + as_text(batch[-1][0])
    return None


def _step(at: int, stage: str, title: str, detail: str = "", **ids: Any) -> dict[str, Any]:
    return {
        "at_ms": at,
        "at_iso": iso_or_none(at),
        "stage": stage,
        "title": title,
        "detail": detail,
        "ids": {k: v for k, v in ids.items() if v},
    }


async def trade_trace(ctx: DashboardContext, position_id: str) -> dict[str, Any] | None:
    symbol, _, coid = position_id.partition(":")
    if not symbol or not coid:
        return None
    keys = ctx.keys
    steps: list[dict[str, Any]] = []
    found = await _entry_plan(ctx, symbol, coid)
    start = "-"
    plan_ids: set[str] = set()
    if found is not None:
        plan_entry, plan = found
        start = f"{max(0, _ms(plan_entry) - LOOKBACK_MS)}-0"
        plan_ids.add(plan.plan_id)
        for _, intent in await _scan(ctx, keys.trade_intent, plan.correlation_id.encode(), start):
            if isinstance(intent, TradeIntent) and intent.intent_id == plan.correlation_id:
                features = intent.features
                steps.append(
                    _step(
                        intent.bar_time,
                        "signal",
                        f"{intent.strategy}: {intent.side.value} signal",
                        f"confidence {intent.confidence:.2f} on the {intent.interval} bar; regime "
                        f"{features.regime}, strength {features.strength:.2f}, volatility ratio "
                        f"{features.volatility_ratio:.2f}",
                        intent_id=intent.intent_id,
                    )
                )
                tp = fmt(intent.take_profit_distance) if intent.take_profit_distance else "none"
                steps.append(
                    _step(
                        intent.ts_event,
                        "intent",
                        f"intent {intent.side.value} {symbol}",
                        f"reference price {fmt(intent.reference_price)}, stop distance "
                        f"{fmt(intent.stop_distance)}, take-profit distance {tp}; expires "
                        f"{iso_or_none(intent.expires_at)}",
                        msg_id=intent.msg_id,
                    )
                )
        steps.append(
            _step(
                plan.created_at,
                "plan",
                f"entry plan: {plan.side.value} {fmt(plan.qty or Decimal(0))}",
                f"leverage {plan.leverage}, stop {fmt(plan.stop_price or Decimal(0))}, take profit "
                f"{', '.join(fmt(t) for t in plan.take_profit) or 'none'} (by {plan.source})",
                plan_id=plan.plan_id,
            )
        )
    exits = [
        p
        for _, p in await _scan(ctx, keys.apply_exit, position_id.encode(), start)
        if isinstance(p, Plan) and p.position_id == position_id
    ]
    for p in exits:
        plan_ids.add(p.plan_id)
        what = _exit_title(p)
        score = f"; kill score {p.kill_score:.2f}" if p.kill_score is not None else ""
        at_r = f"; at {fmt(p.r_multiple)}R" if p.r_multiple is not None else ""
        steps.append(
            _step(
                p.created_at,
                _exit_stage(p),
                what,
                f"reasons {', '.join(p.reason_codes) or '—'}{score}{at_r} (by {p.source})",
                plan_id=p.plan_id,
            )
        )
    order_ids = {coid} | {exit_order_id(p) for p in plan_ids}
    for _, r in await _scan(ctx, keys.apply_result, f'"symbol":"{symbol}"'.encode(), start):
        if isinstance(r, ApplyResult) and r.plan_id in plan_ids:
            stage = "gate" if r.action is PlanAction.OPEN else "result"
            verdict = "executed" if r.executed else "skipped"
            detail = f"{r.reason}; order {r.client_order_id or '—'} / {r.exchange_order_id or '—'}"
            if r.filled_qty:
                detail += f", filled {fmt(r.filled_qty)} @ {fmt(r.avg_price)}"
            steps.append(
                _step(
                    r.ts_event,
                    stage,
                    f"{r.action.value} {verdict}",
                    detail,
                    plan_id=r.plan_id,
                    client_order_id=r.client_order_id,
                )
            )
    fills = [
        f
        for _, f in await _scan(ctx, keys.fills, f'"symbol":"{symbol}"'.encode(), start)
        if isinstance(f, FillEvent)
    ]
    position = await RedisLedger(ctx.redis, keys).read(symbol)
    current = position if position is not None and position.position_id == position_id else None
    closed = await _closed_row(ctx, position_id)
    opened_at = current.opened_at if current else (closed["opened_at"] if closed else 0)
    closed_at = closed["closed_at"] if closed else None
    seen_trades = set()
    for f in fills:
        ours = f.client_order_id in order_ids or (
            is_stop(f.client_order_id)
            and f.ts_event >= opened_at
            and (closed_at is None or f.ts_event <= closed_at)
        )
        if ours:
            seen_trades.add(f.trade_id)
            row = fill_row(f)
            steps.append(
                _step(
                    f.ts_event,
                    "fill",
                    f"{row['purpose']} fill {f.side.value} {row['qty']} @ {row['price']}",
                    f"fee {row['commission']}, realized {row['realized_pnl']}",
                    client_order_id=f.client_order_id,
                    trade_id=f.trade_id,
                )
            )
    for row in await _journal_fills(ctx, symbol, opened_at, closed_at, order_ids):
        if row["trade_id"] not in seen_trades:
            steps.append(
                _step(
                    row["ts"],
                    "fill",
                    f"fill {row['side']} {row['qty']} @ {row['price']} (journal)",
                    "",
                    client_order_id=row["client_order_id"],
                    trade_id=row["trade_id"],
                )
            )
    for _, e in await _scan(ctx, keys.events, f'"symbol":"{symbol}"'.encode(), start):
        if (
            isinstance(e, Event)
            and e.ts_event >= opened_at
            and (closed_at is None or e.ts_event <= closed_at)
        ):
            steps.append(_step(e.ts_event, "event", f"{e.kind} ({e.severity})", e.detail))
    for _, a in await _scan(ctx, keys.audit, position_id.encode(), start):
        if isinstance(a, OperatorAction):
            steps.append(
                _step(
                    a.ts_event,
                    "operator",
                    f"{a.user} ({a.role}): {a.action}",
                    f"{a.result}: {a.detail}",
                    plan_id=a.plan_id,
                )
            )
    if closed is not None:
        steps.append(
            _step(
                closed["closed_at"],
                "exit",
                f"closed: {closed['exit_reason']}",
                f"exit price {closed['exit_price']}, net PnL {closed['net_pnl']}, "
                f"{closed['r'] or '—'}R, ladder stage {closed['ladder_stage']}",
            )
        )
    if not steps and current is None:
        return None
    steps.sort(key=lambda s: (s["at_ms"], _ORDER.get(s["stage"], 9)))
    return {
        "position_id": position_id,
        "symbol": symbol,
        "open": current is not None,
        "entry_plan_found": found is not None,
        "steps": steps,
        "closed": closed,
    }


_ORDER = {
    "signal": 0,
    "intent": 1,
    "plan": 2,
    "gate": 3,
    "fill": 4,
    "stop_move": 5,
    "harvest": 5,
    "close": 5,
    "result": 6,
    "event": 7,
    "operator": 4,
    "exit": 8,
}


def _exit_stage(p: Plan) -> str:
    if p.action is PlanAction.UPDATE_STOP:
        return "stop_move"
    if any(code.startswith("harvest_tranche") for code in p.reason_codes):
        return "harvest"
    return "close"


def _exit_title(p: Plan) -> str:
    if p.action is PlanAction.UPDATE_STOP:
        return f"stop move to {fmt(p.stop_price or Decimal(0))}"
    fraction = p.action.close_fraction or "?"
    return f"{p.action.value}: close {Decimal(fraction) * 100:.0f} %"


async def _closed_row(ctx: DashboardContext, position_id: str) -> dict[str, Any] | None:
    def read(journal: Any) -> dict[str, Any] | None:
        for row in journal.closed():
            if row.position_id == position_id:
                r = Decimal(row.r_multiple) if row.r_multiple is not None else None
                net = Decimal(row.realized_pnl) - Decimal(row.fees)
                return {
                    "exit_reason": row.exit_reason,
                    "exit_price": fmt(Decimal(row.exit_price)),
                    "net_pnl": fmt(net.quantize(Decimal("0.0001"))),
                    "r": fmt(r.quantize(Decimal("0.01"))) if r is not None else None,
                    "ladder_stage": int(row.ladder_stage),
                    "opened_at": int(row.opened_at),
                    "closed_at": int(row.closed_at),
                }
        return None

    found: dict[str, Any] | None = await ctx.in_journal(read)
    return found


async def _journal_fills(
    ctx: DashboardContext, symbol: str, start: int, end: int | None, order_ids: set[str]
) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from quantum_trader.services.journal import fills

    def read(journal: Any) -> list[dict[str, Any]]:
        c = fills.c
        query = select(fills).where(c.symbol == symbol, c.ts >= start)
        if journal.run_id is not None:
            query = query.where(c.run_id == journal.run_id)
        if end is not None:
            query = query.where(c.ts <= end)
        with journal.engine.connect() as conn:
            rows = list(conn.execute(query))
        return [
            {
                "trade_id": r.trade_id,
                "client_order_id": r.client_order_id,
                "side": r.side,
                "qty": fmt(Decimal(r.qty)),
                "price": fmt(Decimal(r.price)),
                "ts": int(r.ts),
            }
            for r in rows
            if r.client_order_id in order_ids or is_stop(r.client_order_id)
        ]

    found: list[dict[str, Any]] | None = await ctx.in_journal(read)
    return found or []
