"""Orders on the simulated exchange, placed the way the live apply layer places them.

* entry: one MARKET order whose client id derives from the plan id (``e-``), then — on
  its fill — a reduce-only STOP_MARKET for the whole filled quantity at the sized stop
  (``s-``, derived from position, price and quantity) and, with fixed exits, a
  reduce-only TAKE_PROFIT_MARKET at the target (``t-``);
* a stop is moved or resized by placing the new one first and cancelling the old one
  after, so the position is never unprotected; a stop the exchange refuses because it
  would trigger at once means the position is closed at market instead;
* exits are reduce-only MARKET orders (``x-``) for the quantity ``close_qty_for`` gives.

Each order is tagged in the :class:`TradeLog` with the reason its fills close trades.
Every fill is read back from the exchange's own trade history (``fills_from``), the fills
the live exchange adapter turns into ``fills`` messages; the backtest's core builds no
execution events.
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.domain.enums import OrderType, PositionSide, WorkingType
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected
from quantum_trader.exchange.sim import MatchingCore


class OrderDesk:
    """Submits, moves and cancels orders on one ``MatchingCore``; collects its fills."""

    def __init__(self, core: MatchingCore, log: TradeLog) -> None:
        self.core = core
        self.log = log
        self.rejections: dict[str, int] = {}

    def market(
        self, symbol: str, side: PositionSide, qty: Decimal, coid: str, reason: str, *, exit_: bool
    ) -> bool:
        """Entry (``exit_`` False: buy for LONG) or reduce-only exit of ``side``'s position."""
        order_side = side.exit_side if exit_ else side.entry_side
        request = OrderRequest(symbol, order_side, OrderType.MARKET, coid, qty, reduce_only=exit_)
        self.log.tag(coid, reason)
        return self._submit(request)

    def protective_stop(
        self, symbol: str, side: PositionSide, position_id: str, stop: Decimal, qty: Decimal
    ) -> str | None:
        """Place a reduce-only STOP_MARKET for ``qty``; its client id, or None if refused."""
        coid = client_order_id("s", position_id, fmt(stop), fmt(qty))
        request = OrderRequest(
            symbol,
            side.exit_side,
            OrderType.STOP_MARKET,
            coid,
            qty,
            stop_price=stop,
            reduce_only=True,
            working_type=WorkingType.MARK_PRICE,
        )
        return coid if self._submit(request) else None

    def take_profit(
        self, symbol: str, side: PositionSide, position_id: str, target: Decimal, qty: Decimal
    ) -> str | None:
        """Place a reduce-only TAKE_PROFIT_MARKET for ``qty``; its client id, or None."""
        coid = client_order_id("t", position_id, fmt(target), fmt(qty))
        request = OrderRequest(
            symbol,
            side.exit_side,
            OrderType.TAKE_PROFIT_MARKET,
            coid,
            qty,
            stop_price=target,
            reduce_only=True,
            working_type=WorkingType.MARK_PRICE,
        )
        return coid if self._submit(request) else None

    def cancel(self, symbol: str, coid: str) -> None:
        """Cancel if still working; an order already filled or cancelled is fine."""
        if not coid:
            return
        try:
            self.core.withdraw(symbol, coid)
        except (OrderRejected, OrderNotFound):
            pass

    def _submit(self, request: OrderRequest) -> bool:
        try:
            self.core.place(request)
        except OrderRejected as exc:
            key = f"exchange_rejected:{exc.code}"
            self.rejections[key] = self.rejections.get(key, 0) + 1
            return False
        return True
