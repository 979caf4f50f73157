"""The independent invariant checker: pure functions over what the exchange and the
streams recorded — the venue's own orders and fills, the plans, results and dead letters
on the streams, the consumer groups' state — never over the ledger's opinion of itself
(the ledger is read once, at the end, only to compare it with the exchange).

Each check returns the violations of one invariant of DESIGN.md §2, oldest first, so the
report can show the count and the first offending event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Plan
from quantum_trader.decide import reasons as r
from quantum_trader.decide.order_requests import entry_order_id
from quantum_trader.domain.enums import OrderStatus, OrderType, PlanKind, Side
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.order_ids import EXIT_PREFIX, is_entry
from quantum_trader.domain.orders import Fill, Order, PositionState
from quantum_trader.ops.invariants import (
    Violation,
    duplicate_entries,
    ledger_mismatches,
    reduce_only_growth,
    uncovered_ms,
)

INVARIANTS = (
    "1_one_entry_per_plan",
    "2_no_unintended_pyramiding",
    "3_every_position_protected",
    "4_exits_never_blocked",
    "5_ledger_equals_exchange",
    "6_nothing_lost",
    "7_fail_safe",
    "8_exact_quantities",
)
# An exit refused for one of these was blocked by an entry-side gate (FAILURES #13).
ENTRY_GATES = frozenset(
    {
        r.POSITION_EXISTS,
        r.INFLIGHT,
        r.COOLDOWN,
        r.RISK_REDUCE_ONLY,
        r.RISK_HALT,
        r.MAX_POSITIONS,
        r.MAX_EXPOSURE,
        r.LOW_CONFIDENCE,
        r.KILL_SWITCH,
        r.CIRCUIT_BREAKER,
    }
)
FOREVER = 2**62


@dataclass(frozen=True, slots=True)
class GroupState:
    stream: str
    group: str
    pending: int
    last_delivered: str


@dataclass
class Evidence:
    """Everything the checker reads."""

    orders: Sequence[Order]
    fills: Sequence[Fill]
    until: int  # the exchange's time at the end
    instruments: Mapping[str, Instrument]
    plans: Sequence[Plan] = ()
    results: Sequence[ApplyResult] = ()
    dead: Sequence[DeadLetter] = ()
    groups: Sequence[GroupState] = ()
    last_ids: Mapping[str, str] = field(default_factory=dict)  # stream -> last entry id
    garbage: Sequence[tuple[str, str]] = ()  # (stream, entry id) published malformed
    hand: Sequence[tuple[str, int]] = ()  # (symbol, exchange ts) touched by hand
    ledger: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    positions: Sequence[PositionState] = ()
    halts: Sequence[tuple[int, int]] = ()  # (Redis lost its state, the loss confirmed)
    protect_within_ms: int = 180_000
    hand_grace_ms: int = 130_000  # a reconcile interval plus the bar it lands in


def one_entry_per_plan(ev: Evidence) -> list[Violation]:
    """Each plan's entry client id is placed at most once; every entry order has a plan;
    every plan has at most one executed result."""
    out: list[Violation] = []
    by_cid: dict[str, list[Order]] = defaultdict(list)
    for o in ev.orders:
        if is_entry(o.client_order_id):
            by_cid[o.client_order_id].append(o)
    planned = {entry_order_id(p.plan_id) for p in ev.plans if p.kind is PlanKind.OPEN}
    for cid, orders in by_cid.items():
        if len(orders) > 1:
            second = sorted(orders, key=lambda o: o.created_at)[1]
            out.append(
                Violation(
                    "1_one_entry_per_plan",
                    second.symbol,
                    second.created_at,
                    f"{cid} placed {len(orders)} times",
                )
            )
        if planned and cid not in planned:
            o = orders[0]
            out.append(Violation("1_one_entry_per_plan", o.symbol, o.created_at, f"{cid}: no plan"))
    executed: dict[str, list[ApplyResult]] = defaultdict(list)
    for res in ev.results:
        if res.executed:
            executed[res.plan_id].append(res)
    for plan_id, results in executed.items():
        if len(results) > 1:
            res = results[1]
            out.append(
                Violation(
                    "1_one_entry_per_plan",
                    res.symbol,
                    res.ts_event,
                    f"plan {plan_id} executed {len(results)} times",
                )
            )
    return _sorted(out)


def no_unintended_pyramiding(ev: Evidence) -> list[Violation]:
    """An entry that added to an open same-side position; one that landed on a position
    opened by hand before the reconciler could know of it is excused."""
    out = []
    for v in duplicate_entries(ev.fills):
        if not _near_hand(ev, v.symbol, v.at):
            out.append(Violation("2_no_unintended_pyramiding", v.symbol, v.at, v.detail))
    return out


def every_position_protected(ev: Evidence) -> tuple[int, list[Violation]]:
    """Longest stretch any position was not covered by a working reduce-only stop for its
    whole size (hand-made changes excused for ``hand_grace_ms``); violations above the
    bound."""
    stops: dict[str, list[Order]] = defaultdict(list)
    for o in ev.orders:
        is_stop = o.type is OrderType.STOP_MARKET and (o.reduce_only or o.close_position)
        if is_stop and o.status is not OrderStatus.REJECTED:
            stops[o.symbol].append(o)
    by_symbol: dict[str, list[Fill]] = defaultdict(list)
    for f in _ordered(ev.fills):
        by_symbol[f.symbol].append(f)
    longest, out = 0, []
    for symbol, fills in by_symbol.items():
        excused = [(t, t + ev.hand_grace_ms) for s, t in ev.hand if s == symbol]
        qty = Decimal(0)
        for i, fill in enumerate(fills):
            qty += fill.qty if fill.side is Side.BUY else -fill.qty
            if qty == 0:
                continue
            end = fills[i + 1].ts if i + 1 < len(fills) else ev.until
            exit_side = Side.SELL if qty > 0 else Side.BUY
            spans = [
                (o.created_at, o.updated_at if o.status.is_final else FOREVER)
                for o in stops[symbol]
                if o.side is exit_side and (o.close_position or o.quantity >= abs(qty))
            ]
            gap = uncovered_ms(fill.ts, end, sorted(spans + excused))
            longest = max(longest, gap)
            if gap > ev.protect_within_ms:
                out.append(
                    Violation(
                        "3_every_position_protected",
                        symbol,
                        fill.ts,
                        f"{abs(qty)} unprotected {gap / 1000:.0f}s after {fill.client_order_id}",
                    )
                )
    return longest, _sorted(out)


def exits_never_blocked(ev: Evidence) -> list[Violation]:
    """Every exit plan has a result, none refused by an entry gate, and no reduce-only
    fill ever grew a position (an exit larger than the position)."""
    out: list[Violation] = []
    results: dict[str, list[ApplyResult]] = defaultdict(list)
    for res in ev.results:
        results[res.plan_id].append(res)
    seen: set[str] = set()
    for plan in ev.plans:
        if plan.kind is not PlanKind.CLOSE or plan.plan_id in seen:
            continue
        seen.add(plan.plan_id)
        mine = results.get(plan.plan_id, [])
        if not mine:
            out.append(
                Violation(
                    "4_exits_never_blocked",
                    plan.symbol,
                    plan.created_at,
                    f"exit plan {plan.plan_id} ({plan.action.value}) has no result: lost",
                )
            )
        for res in mine:
            if not res.executed and res.reason in ENTRY_GATES:
                out.append(
                    Violation(
                        "4_exits_never_blocked",
                        plan.symbol,
                        res.ts_event,
                        f"exit plan {plan.plan_id} blocked by entry gate {res.reason}",
                    )
                )
    placed: dict[str, list[Order]] = defaultdict(list)
    for o in ev.orders:
        if o.client_order_id.startswith(EXIT_PREFIX) and o.status is not OrderStatus.REJECTED:
            placed[o.client_order_id].append(o)
    for cid, orders in placed.items():
        if len(orders) > 1:
            second = sorted(orders, key=lambda o: o.created_at)[1]
            out.append(
                Violation(
                    "4_exits_never_blocked",
                    second.symbol,
                    second.created_at,
                    f"exit {cid} placed {len(orders)} times (one plan closed more than once)",
                )
            )
    for v in reduce_only_growth(ev.fills):
        out.append(Violation("4_exits_never_blocked", v.symbol, v.at, v.detail))
    return _sorted(out)


def ledger_equals_exchange(ev: Evidence) -> list[Violation]:
    return [
        Violation("5_ledger_equals_exchange", v.symbol, ev.until, v.detail)
        for v in ledger_mismatches(ev.ledger, ev.positions)
    ]


def nothing_lost(ev: Evidence) -> list[Violation]:
    """Every group read everything and acknowledged it; every malformed entry is in the
    dead-letter stream for every group that read it, with a reason."""
    out: list[Violation] = []
    groups_of: dict[str, list[str]] = defaultdict(list)
    for g in ev.groups:
        groups_of[g.stream].append(g.group)
        if g.pending:
            out.append(
                Violation("6_nothing_lost", g.stream, ev.until, f"{g.group}: {g.pending} pending")
            )
        last = ev.last_ids.get(g.stream)
        if last is not None and _id(g.last_delivered) < _id(last):
            out.append(
                Violation(
                    "6_nothing_lost",
                    g.stream,
                    ev.until,
                    f"{g.group}: read up to {g.last_delivered}, stream ends at {last}",
                )
            )
    lettered = {(d.source_stream, d.original_id, d.group) for d in ev.dead if d.reason}
    for stream, entry_id in ev.garbage:
        for group in groups_of.get(stream, []):
            if (stream, entry_id, group) not in lettered:
                out.append(
                    Violation(
                        "6_nothing_lost",
                        stream,
                        _id(entry_id)[0],
                        f"malformed entry {entry_id} not dead-lettered by {group}",
                    )
                )
    return out


def entries_halted_after_state_loss(ev: Evidence) -> list[Violation]:
    """No entry order between the moment Redis lost the state and the operator's
    confirmation after a reconcile round (exits go on)."""
    out = []
    for o in ev.orders:
        if not is_entry(o.client_order_id):
            continue
        for lost, confirmed in ev.halts:
            if lost <= o.created_at < confirmed:
                out.append(
                    Violation(
                        "7_fail_safe",
                        o.symbol,
                        o.created_at,
                        f"{o.client_order_id} placed after the state loss at {lost}",
                    )
                )
    return _sorted(out)


def exact_quantities(ev: Evidence) -> list[Violation]:
    """Every price a multiple of the tick, every quantity of the step (LIMIT: LOT_SIZE,
    otherwise MARKET_LOT_SIZE), as the exchange recorded them."""
    out = []
    for o in ev.orders:
        inst = ev.instruments.get(o.symbol)
        if inst is None:
            continue
        step = inst.step_size if o.type is OrderType.LIMIT else inst.market_step_size
        bad = []
        if o.quantity and o.quantity % step:
            bad.append(f"qty {o.quantity} (step {step})")
        for name, price in (("price", o.price), ("stop", o.stop_price)):
            if price and price % inst.tick_size:
                bad.append(f"{name} {price} (tick {inst.tick_size})")
        if bad:
            out.append(
                Violation(
                    "8_exact_quantities",
                    o.symbol,
                    o.created_at,
                    f"{o.client_order_id}: {', '.join(bad)}",
                )
            )
    return _sorted(out)


def check_all(ev: Evidence) -> tuple[dict[str, list[Violation]], int]:
    """Violations by invariant, and the longest unprotected stretch (ms)."""
    longest, unprotected = every_position_protected(ev)
    return {
        "1_one_entry_per_plan": one_entry_per_plan(ev),
        "2_no_unintended_pyramiding": no_unintended_pyramiding(ev),
        "3_every_position_protected": unprotected,
        "4_exits_never_blocked": exits_never_blocked(ev),
        "5_ledger_equals_exchange": ledger_equals_exchange(ev),
        "6_nothing_lost": nothing_lost(ev),
        "7_fail_safe": entries_halted_after_state_loss(ev),
        "8_exact_quantities": exact_quantities(ev),
    }, longest


def _near_hand(ev: Evidence, symbol: str, at: int) -> bool:
    return any(s == symbol and 0 <= at - t <= ev.hand_grace_ms for s, t in ev.hand)


def _ordered(fills: Iterable[Fill]) -> list[Fill]:
    return sorted(fills, key=lambda f: (f.ts, int(f.trade_id) if f.trade_id.isdigit() else 0))


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _sorted(violations: list[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: v.at)
