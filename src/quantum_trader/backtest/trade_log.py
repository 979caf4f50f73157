"""Trades derived from the exchange's fills (ground truth), never from intentions.

Every fill the matching core reports goes through :meth:`TradeLog.on_fill`. Fills that
open or add to a position build a lot (average entry, entry fees); each fill that
reduces it closes that part of the lot as one :class:`Trade`, with the entry fees
shared pro rata and the exit reason the engine tagged on the closing order's client id
(a liquidation's ``autoclose-`` orders are recognised by their prefix). A partial
take-profit therefore appears as its own trade row (``harvest_tranche:n``) and the rest
of the position as another one when it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.backtest.trades import LIQUIDATION, Trade
from quantum_trader.domain.enums import Side
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import Fill

UNTAGGED = "exchange"  # a fill of an order the engine did not place or tag


@dataclass(slots=True)
class _Lot:
    sign: int  # +1 long, -1 short
    qty: Decimal
    entry_price: Decimal
    entry_fees: Decimal
    entry_time: int
    entry_index: int
    risk_per_unit: Decimal = ZERO  # |entry − initial stop|


class TradeLog:
    """Folds fills into closed trades; one instance per backtest."""

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self._lots: dict[str, _Lot] = {}
        self._reasons: dict[str, str] = {}

    def tag(self, client_order_id: str, reason: str) -> None:
        """Record why an order exists, so its fills close trades with that reason."""
        self._reasons[client_order_id] = reason

    def set_stop(self, symbol: str, initial_stop: Decimal) -> None:
        """The initial protective stop: one R of the lot is ``|entry − stop|`` per unit."""
        lot = self._lots.get(symbol)
        if lot is not None and lot.risk_per_unit == ZERO:
            lot.risk_per_unit = abs(lot.entry_price - initial_stop)

    def reason_of(self, client_order_id: str) -> str:
        if client_order_id.startswith("autoclose"):
            return LIQUIDATION
        return self._reasons.get(client_order_id, UNTAGGED)

    def on_fill(self, fill: Fill, bar_index: int, bar_time: int) -> None:
        sign = 1 if fill.side is Side.BUY else -1
        lot = self._lots.get(fill.symbol)
        if lot is None or lot.sign == sign:
            self._add(fill, sign, lot, bar_index, bar_time)
            return
        closed = min(fill.qty, lot.qty)
        exit_fee = fill.commission * closed / fill.qty
        entry_fee = lot.entry_fees * closed / lot.qty
        gross = (fill.price - lot.entry_price) * closed * lot.sign
        fees = entry_fee + exit_fee
        self.trades.append(
            Trade(
                symbol=fill.symbol,
                side="LONG" if lot.sign > 0 else "SHORT",
                entry_time=lot.entry_time,
                exit_time=bar_time,
                entry_price=float(lot.entry_price),
                exit_price=float(fill.price),
                qty=float(closed),
                pnl=float(gross - fees),
                fees=float(fees),
                exit_reason=self.reason_of(fill.client_order_id),
                entry_index=lot.entry_index,
                exit_index=bar_index,
                risk=float(lot.risk_per_unit * closed),
            )
        )
        lot.qty -= closed
        lot.entry_fees -= entry_fee
        if lot.qty == ZERO:
            del self._lots[fill.symbol]
        rest = fill.qty - closed
        if rest > ZERO:  # flipped through zero: the rest opens a new lot
            self._lots[fill.symbol] = _Lot(
                sign, rest, fill.price, fill.commission - exit_fee, bar_time, bar_index
            )

    def _add(self, fill: Fill, sign: int, lot: _Lot | None, bar_index: int, bar_time: int) -> None:
        if lot is None:
            self._lots[fill.symbol] = _Lot(
                sign, fill.qty, fill.price, fill.commission, bar_time, bar_index
            )
            return
        qty = lot.qty + fill.qty
        lot.entry_price = (lot.entry_price * lot.qty + fill.price * fill.qty) / qty
        lot.qty = qty
        lot.entry_fees += fill.commission
