"""Trades derived from the exchange's fills (ground truth), never from intentions.

Every fill the matching core reports goes through :meth:`TradeLog.on_fill`. A fill that
opens a position starts one :class:`_Position`; fills that add to it average its entry;
each fill that reduces it becomes one :class:`ExitFill` (entry fees shared pro rata, the
exit reason the engine tagged on the closing order's client id; a liquidation's
``autoclose-`` orders are recognised by their prefix). When the position is flat its
exits become **one** :class:`Trade` — a partial take-profit (``harvest_tranche:n``) is
an exit of the position, not a trade of its own. A fill that flips the position through
zero closes the old one and opens a new one with the rest.

A position remembers the strategy whose entry signal opened it
(:meth:`TradeLog.entered_by`, keyed by the entry order's client id: the first fill of
that order names it) and the levels its protective stop sat at
(:meth:`TradeLog.stop_at`); neither touches a fill.

Funding is settled by the exchange per position, not per fill: :meth:`TradeLog.trades`
gives each closed position the funding payments made while it was open.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from quantum_trader.backtest.trades import ExitFill, Trade
from quantum_trader.decide.exit_labels import LIQUIDATION
from quantum_trader.domain.enums import Side
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.sim.history import FundingPayment

UNTAGGED = "exchange"  # a fill of an order the engine did not place or tag


@dataclass(slots=True)
class _Position:
    sign: int  # +1 long, -1 short
    qty: Decimal  # still open
    entry_price: Decimal
    entry_fees: Decimal  # not yet shared out to exits
    entry_time: int
    entry_index: int
    entry_ts: int  # exchange time of the opening fill
    entered: Decimal  # quantity entered in all
    risk_per_unit: Decimal = ZERO  # |entry − initial stop|
    strategy: str = ""
    stops: list[tuple[int, float]] = field(default_factory=list)  # (bar time, stop price)
    exits: list[ExitFill] = field(default_factory=list)
    exit_value: Decimal = ZERO  # Σ price × qty over the exits
    gross: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class _Closed:
    trade: Trade
    entry_ts: int
    exit_ts: int  # exchange time of the final exit fill


class TradeLog:
    """Folds fills into closed positions; one instance per backtest."""

    def __init__(self) -> None:
        self.exit_fills = 0  # fills that reduced a position, so far
        self._closed: list[_Closed] = []
        self._open: dict[str, _Position] = {}
        self._reasons: dict[str, str] = {}
        self._strategies: dict[str, str] = {}  # entry client order id -> strategy

    def entered_by(self, client_order_id: str, strategy: str) -> None:
        """The strategy whose entry signal the order ``client_order_id`` executes: the
        position its fill opens is that strategy's trade."""
        self._strategies[client_order_id] = strategy

    def stop_at(self, symbol: str, stop: Decimal, bar_time: int) -> None:
        """The protective stop of ``symbol``'s open position now sits at ``stop`` (from the
        bar opening at ``bar_time``); a level it already holds is not a move."""
        position = self._open.get(symbol)
        level = float(stop)
        if position is not None and (not position.stops or position.stops[-1][1] != level):
            position.stops.append((bar_time, level))

    def tag(self, client_order_id: str, reason: str) -> None:
        """Record why an order exists, so its fills close positions with that reason."""
        self._reasons[client_order_id] = reason

    def set_stop(self, symbol: str, initial_stop: Decimal) -> None:
        """The initial protective stop: one R of the position is ``|entry − stop|`` per unit."""
        position = self._open.get(symbol)
        if position is not None and position.risk_per_unit == ZERO:
            position.risk_per_unit = abs(position.entry_price - initial_stop)

    def reason_of(self, client_order_id: str) -> str:
        if client_order_id.startswith("autoclose"):
            return LIQUIDATION
        return self._reasons.get(client_order_id, UNTAGGED)

    def trades(self, funding: Iterable[FundingPayment] = ()) -> list[Trade]:
        """Closed positions in the order they closed, each with the funding it was paid
        (or paid) while open: a settlement at ``F`` belongs to the position opened
        before ``F`` and closed at or after it (the exchange settles before it fills)."""
        by_symbol: dict[str, list[int]] = {}
        for k, closed in enumerate(self._closed):
            by_symbol.setdefault(closed.trade.symbol, []).append(k)
        for ks in by_symbol.values():
            ks.sort(key=lambda k: self._closed[k].entry_ts)
        starts = {s: [self._closed[k].entry_ts for k in ks] for s, ks in by_symbol.items()}
        paid: dict[int, Decimal] = {}
        for payment in funding:
            ks = by_symbol.get(payment.symbol, [])
            at = bisect_left(starts.get(payment.symbol, []), payment.funding_time) - 1
            if at >= 0 and payment.funding_time <= self._closed[ks[at]].exit_ts:
                paid[ks[at]] = paid.get(ks[at], ZERO) + payment.amount
        out = []
        for k, closed in enumerate(self._closed):
            trade = closed.trade
            amount = paid.get(k)
            if amount is not None:
                trade = replace(trade, funding=float(amount), pnl=trade.pnl + float(amount))
            out.append(trade)
        return out

    def on_fill(self, fill: Fill, bar_index: int, bar_time: int) -> None:
        sign = 1 if fill.side is Side.BUY else -1
        position = self._open.get(fill.symbol)
        if position is None or position.sign == sign:
            self._add(fill, sign, position, bar_index, bar_time)
            return
        self.exit_fills += 1
        closed = min(fill.qty, position.qty)
        exit_fee = fill.commission * closed / fill.qty
        entry_fee = position.entry_fees * closed / position.qty
        gross = (fill.price - position.entry_price) * closed * position.sign
        fees = entry_fee + exit_fee
        position.exits.append(
            ExitFill(
                time=bar_time,
                price=float(fill.price),
                qty=float(closed),
                reason=self.reason_of(fill.client_order_id),
                pnl=float(gross - fees),
                fees=float(fees),
                index=bar_index,
            )
        )
        position.exit_value += fill.price * closed
        position.gross += gross
        position.fees += fees
        position.qty -= closed
        position.entry_fees -= entry_fee
        if position.qty == ZERO:
            del self._open[fill.symbol]
            self._closed.append(_Closed(_trade(fill.symbol, position), position.entry_ts, fill.ts))
        rest = fill.qty - closed
        if rest > ZERO:  # flipped through zero: the rest opens a new position
            self._open[fill.symbol] = _Position(
                sign,
                rest,
                fill.price,
                fill.commission - exit_fee,
                bar_time,
                bar_index,
                fill.ts,
                rest,
                strategy=self._strategies.get(fill.client_order_id, ""),
            )

    def _add(
        self, fill: Fill, sign: int, position: _Position | None, bar_index: int, bar_time: int
    ) -> None:
        if position is None:
            self._open[fill.symbol] = _Position(
                sign, fill.qty, fill.price, fill.commission, bar_time, bar_index, fill.ts, fill.qty,
                strategy=self._strategies.get(fill.client_order_id, ""),
            )  # fmt: skip
            return
        qty = position.qty + fill.qty
        position.entry_price = (position.entry_price * position.qty + fill.price * fill.qty) / qty
        position.qty = qty
        position.entered += fill.qty
        position.entry_fees += fill.commission


def _trade(symbol: str, position: _Position) -> Trade:
    """The closed position as one trade (no funding yet: see :meth:`TradeLog.trades`)."""
    final = position.exits[-1]
    return Trade(
        symbol=symbol,
        side="LONG" if position.sign > 0 else "SHORT",
        entry_time=position.entry_time,
        exit_time=final.time,
        entry_price=float(position.entry_price),
        exit_price=float(position.exit_value / position.entered),
        qty=float(position.entered),
        pnl=float(position.gross - position.fees),
        fees=float(position.fees),
        exit_reason=final.reason,
        entry_index=position.entry_index,
        exit_index=final.index,
        risk=float(position.risk_per_unit * position.entered),
        exits=tuple(position.exits),
        strategy=position.strategy,
        stops=tuple(position.stops),
    )
