"""What the exchange answered a process's orders (``/metrics``' order outcomes): an
accepted order, a rejection by Binance code, and an order whose outcome was unknown until
it was looked up by its client order id."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.clock import SimClock
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import Order, OrderRequest
from quantum_trader.exchange.interface import OrderOutcomeUnknown, OrderRejected
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.observability.families import order_families
from quantum_trader.services.order_router import OUTCOMES, OrderRouter, Placed, Refused
from tests.unit.observability.exposition import samples

T0 = 1_700_000_040_000


class Flaky(SimExchange):
    """Times out on the first request of ``flaky`` ids (the order did go through), and
    refuses ``poor`` ones for margin."""

    async def create_order(self, request: OrderRequest) -> Order:
        if request.client_order_id.startswith("poor"):
            raise OrderRejected(-2019, "Margin is insufficient.")
        order = await super().create_order(request)
        if request.client_order_id.startswith("flaky"):
            assert OUTCOMES.unresolved == set()
            raise OrderOutcomeUnknown(request.client_order_id, "timeout")
        return order

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        assert OUTCOMES.unresolved == {client_order_id}  # unknown while looked up
        return await super().fetch_order(symbol, client_order_id)


def market(coid: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, coid, Decimal("0.003"))


async def test_accepted_rejected_and_unknown_answers_are_counted() -> None:
    before = samples(order_families(OUTCOMES))
    sim = Flaky(MatchingCore(seed=3, start_ms=T0))
    sim.set_price("BTCUSDT", Decimal("40000"))
    router = OrderRouter(sim, SimClock(T0), backoff_s=0)
    assert isinstance(await router.place(market("fine-1")), Placed)
    assert isinstance(await router.place(market("poor-1")), Refused)
    assert isinstance(await router.place(market("flaky-1")), Placed)  # found by its id
    after = samples(order_families(OUTCOMES))

    def grew(name: str) -> float:
        return after[name] - before.get(name, 0)

    assert grew('quantum_order_outcomes_total{outcome="accepted"}') == 2
    assert grew('quantum_order_outcomes_total{outcome="rejected"}') == 1
    assert grew('quantum_order_outcomes_total{outcome="unknown"}') == 1
    assert grew('quantum_order_rejections_total{code="-2019"}') == 1
    assert after["quantum_orders_outcome_unknown"] == 0  # resolved
