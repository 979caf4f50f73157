"""Orders on the simulated exchange, placed the way the live apply layer places them.

* entry: one MARKET order whose client id derives from the plan id (``e-``), then — on
  its fill — a reduce-only STOP_MARKET for the whole filled quantity at the sized stop
  (``s-``, derived from position, price and quantity);
* a stop is moved or resized by placing the new one first and cancelling the old one
  after, so the position is never unprotected; a stop the exchange refuses because it
  would trigger at once means the position is closed at market instead;
* exits are reduce-only MARKET orders (``x-``) for the quantity ``close_qty_for`` gives.

Each order is tagged in the :class:`TradeLog` with the reason its fills close trades.
Every fill is read back from the core's execution events, the same stream the live
exchange adapter turns into ``fills`` messages.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.domain.enums import OrderType, PositionSide, WorkingType
from quantum_trader.domain.money import fmt
from quantum_trader.domain.orders import Fill, OrderRequest
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected, OrderUpdate
from quantum_trader.exchange.sim import MatchingCore


def client_order_id(kind: str, *parts: object) -> str:
    """Deterministic client order id (Binance allows 36 characters)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"{kind}-{digest[:32]}"


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

    def cancel(self, symbol: str, coid: str) -> None:
        """Cancel if still working; an order already filled or cancelled is fine."""
        if not coid:
            return
        try:
            self.core.cancel(symbol, coid)
        except (OrderRejected, OrderNotFound):
            pass

    def fills(self) -> list[Fill]:
        """Fills reported by the exchange since the last call, in order."""
        return [
            e.fill
            for e in self.core.drain_events()
            if isinstance(e, OrderUpdate) and e.fill is not None
        ]

    def _submit(self, request: OrderRequest) -> bool:
        try:
            self.core.submit(request)
        except OrderRejected as exc:
            key = f"exchange_rejected:{exc.code}"
            self.rejections[key] = self.rejections.get(key, 0) + 1
            return False
        return True
