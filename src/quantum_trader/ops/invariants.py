"""Invariants measured from the exchange's own order and fill history — never from our
ledger's opinion of itself (FAILURES #22). Pure functions over venue facts.

* duplicate entries: an entry order that added to a position another order opened;
* max unprotected seconds: the longest time a position's size was not covered by a
  working reduce-only / closePosition stop;
* reduce-only growth: a reduce-only fill that increased a position (must never happen);
* ledger mismatches: symbols whose ledger position differs from the exchange's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.domain.orders import Fill, Order, PositionState

FOREVER = 2**62


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    symbol: str
    at: int
    detail: str


def _signed(fill: Fill) -> Decimal:
    return fill.qty if fill.side is Side.BUY else -fill.qty


def _ordered(fills: Iterable[Fill]) -> list[Fill]:
    return sorted(fills, key=lambda f: (f.ts, int(f.trade_id) if f.trade_id.isdigit() else 0))


def duplicate_entries(fills: Iterable[Fill]) -> list[Violation]:
    out: list[Violation] = []
    position: dict[str, Decimal] = defaultdict(Decimal)
    opener: dict[str, str] = {}
    for fill in _ordered(fills):
        before = position[fill.symbol]
        after = before + _signed(fill)
        grows = abs(after) > abs(before) and (before == 0 or (before > 0) == (after > 0))
        added = grows and before != 0 and opener.get(fill.symbol) != fill.client_order_id
        if is_entry(fill.client_order_id) and added:
            out.append(
                Violation(
                    "duplicate_entries",
                    fill.symbol,
                    fill.ts,
                    f"{fill.client_order_id} added to a position opened by "
                    f"{opener.get(fill.symbol)}",
                )
            )
        if before == 0 or (before > 0) != (after > 0):
            opener[fill.symbol] = fill.client_order_id
        position[fill.symbol] = after
    return out


def reduce_only_growth(fills: Iterable[Fill]) -> list[Violation]:
    out: list[Violation] = []
    position: dict[str, Decimal] = defaultdict(Decimal)
    for fill in _ordered(fills):
        before = position[fill.symbol]
        after = before + _signed(fill)
        if fill.reduce_only and abs(after) > abs(before):
            out.append(
                Violation(
                    "reduce_only_growth",
                    fill.symbol,
                    fill.ts,
                    f"{fill.client_order_id} grew {before} -> {after}",
                )
            )
        position[fill.symbol] = after
    return out


def _is_stop(order: Order) -> bool:
    return order.type is OrderType.STOP_MARKET and (order.reduce_only or order.close_position)


def _covering(orders: Sequence[Order], qty: Decimal, side: Side) -> list[tuple[int, int]]:
    spans = []
    for o in orders:
        if o.side is not side or not (o.close_position or o.quantity >= qty):
            continue
        end = o.updated_at if o.status.is_final else FOREVER
        spans.append((o.created_at, end))
    return sorted(spans)


def max_unprotected_ms(
    fills: Iterable[Fill], orders: Iterable[Order], until: int
) -> tuple[int, Violation | None]:
    stops_by_symbol: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        if _is_stop(order) and order.status is not OrderStatus.REJECTED:
            stops_by_symbol[order.symbol].append(order)
    worst, first = 0, None
    position: dict[str, Decimal] = defaultdict(Decimal)
    by_symbol: dict[str, list[Fill]] = defaultdict(list)
    for fill in _ordered(fills):
        by_symbol[fill.symbol].append(fill)
    for symbol, symbol_fills in by_symbol.items():
        for i, fill in enumerate(symbol_fills):
            position[symbol] += _signed(fill)
            qty = position[symbol]
            if qty == 0:
                continue
            start = fill.ts
            end = symbol_fills[i + 1].ts if i + 1 < len(symbol_fills) else until
            exit_side = Side.SELL if qty > 0 else Side.BUY
            gap = uncovered_ms(start, end, _covering(stops_by_symbol[symbol], abs(qty), exit_side))
            if gap > worst:
                worst = gap
                first = Violation(
                    "max_unprotected",
                    symbol,
                    start,
                    f"{abs(qty)} unprotected for {gap / 1000:.1f}s",
                )
    return worst, first


def uncovered_ms(start: int, end: int, spans: Iterable[tuple[int, int]]) -> int:
    """Longest stretch of [start, end) inside none of the (sorted) spans."""
    longest, cursor = 0, start
    for lo, hi in spans:
        if hi <= cursor or lo >= end:
            continue
        if lo > cursor:
            longest = max(longest, lo - cursor)
        cursor = max(cursor, hi)
        if cursor >= end:
            return longest
    return max(longest, end - cursor)


def ledger_mismatches(
    ledger: Mapping[str, tuple[str, Decimal]], exchange: Iterable[PositionState]
) -> list[Violation]:
    theirs = {p.symbol: (p.side.value, p.qty) for p in exchange if p.qty > 0}
    out = []
    for symbol in sorted(set(ledger) | set(theirs)):
        if ledger.get(symbol) != theirs.get(symbol):
            out.append(
                Violation(
                    "ledger_mismatches",
                    symbol,
                    0,
                    f"ledger {ledger.get(symbol)} vs exchange {theirs.get(symbol)}",
                )
            )
    return out
