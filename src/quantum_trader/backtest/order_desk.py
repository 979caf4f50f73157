"""Orders on the simulated exchange: the requests :mod:`quantum_trader.decide.order_requests`
builds (the ones the live apply layer sends), submitted to the matching core.

Each order is tagged in the :class:`TradeLog` with the reason its fills close trades.
Every fill is read back from the exchange's own trade history (``fills_from``), the fills
the live exchange adapter turns into ``fills`` messages; the backtest's core builds no
execution events.
"""

from __future__ import annotations

from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected
from quantum_trader.exchange.sim import MatchingCore


class OrderDesk:
    """Submits, moves and cancels orders on one ``MatchingCore``; collects its fills."""

    def __init__(self, core: MatchingCore, log: TradeLog) -> None:
        self.core = core
        self.log = log
        self.rejections: dict[str, int] = {}

    def send(self, request: OrderRequest, reason: str) -> bool:
        """Submit ``request`` (tagged with the reason its fills close trades)."""
        self.log.tag(request.client_order_id, reason)
        return self._submit(request)

    def conditional(self, request: OrderRequest) -> str | None:
        """Place a stop or target; its client id, or None if the exchange refused it."""
        return request.client_order_id if self._submit(request) else None

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
