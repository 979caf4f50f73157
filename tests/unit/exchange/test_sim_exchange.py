"""SimExchange: the async shell, the event queue, admin operations and injected faults."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from sim_helpers import START_MS, mkt

from quantum_trader.clock import SimClock
from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import (
    Exchange,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderUpdate,
    RetryableError,
)
from quantum_trader.exchange.sim import FaultPlan, FaultProfile, MatchingCore, SimExchange
from quantum_trader.exchange.sim.faults import OrderFault

BTC = "BTCUSDT"


def make(profile: FaultProfile | None = None, clock: SimClock | None = None) -> SimExchange:
    exchange = SimExchange(
        MatchingCore(seed=5, start_ms=START_MS),
        clock=clock,
        faults=FaultPlan(profile or FaultProfile(), seed=9),
    )
    exchange.set_price(BTC, D("60000.0"))
    return exchange


def test_satisfies_the_exchange_protocol() -> None:
    assert isinstance(make(), Exchange)


async def test_response_lost_but_order_placed() -> None:
    exchange = make(FaultProfile(lost_response=1.0))
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "lost-1"))
    order = await exchange.fetch_order(BTC, "lost-1")
    assert order.status is OrderStatus.FILLED
    assert len(await exchange.positions()) == 1


async def test_unknown_before_placing_places_nothing() -> None:
    exchange = make(FaultProfile(unknown_before=1.0))
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "u-1"))
    exchange.faults.switch(FaultProfile())
    with pytest.raises(Exception) as caught:
        await exchange.fetch_order(BTC, "u-1")
    assert "-2013" in str(caught.value)
    assert await exchange.positions() == ()


async def test_rejection_and_rate_limit_faults_place_nothing() -> None:
    exchange = make(FaultProfile(reject=1.0))
    with pytest.raises(OrderRejected) as caught:
        await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "r-1"))
    assert caught.value.code == -1008
    exchange.faults.switch(FaultProfile(rate_limit=1.0))
    with pytest.raises(RetryableError):
        await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "r-1"))
    assert exchange.core.all_orders() == []


async def test_dropped_and_delayed_events() -> None:
    exchange = make(FaultProfile(drop_event=1.0))
    await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "d-1"))
    assert exchange.pending_events() == [] and len(exchange.dropped_events) == 3
    exchange.faults.switch(FaultProfile(delay_event=1.0, event_delay_s=5.0))
    await exchange.create_order(mkt(BTC, Side.SELL, "0.002", "d-2", reduce_only=True))
    assert exchange.pending_events() == []
    exchange.advance_time(START_MS + 4_999)
    assert exchange.pending_events() == []
    exchange.advance_time(START_MS + 5_000)
    delivered = exchange.pending_events()
    assert [type(e).__name__ for e in delivered] == ["OrderUpdate", "OrderUpdate", "AccountUpdate"]


async def test_latency_is_awaited_on_the_injected_clock() -> None:
    clock = SimClock(START_MS)
    exchange = make(FaultProfile(latency_s=0.25), clock=clock)
    task = asyncio.create_task(exchange.create_order(mkt(BTC, Side.BUY, "0.002", "lat-1")))
    await asyncio.sleep(0)
    assert not task.done() and exchange.core.all_orders() == []
    clock.advance(0.25)
    order = await task
    assert order.created_at == START_MS + 250


async def test_fault_draws_are_deterministic_per_seed() -> None:
    profile = FaultProfile(reject=0.2, lost_response=0.2, drop_event=0.3, delay_event=0.2)

    def draws(seed: int) -> list[object]:
        plan = FaultPlan(profile, seed=seed)
        return [plan.order_fault() for _ in range(50)] + [plan.event_fate() for _ in range(50)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert OrderFault.LOST_RESPONSE in draws(1)


async def test_admin_operations_emit_ordinary_events() -> None:
    exchange = make()
    exchange.open_position_by_hand(BTC, Side.SELL, D("0.005"))
    await exchange.create_order(
        OrderRequest(
            BTC, Side.BUY, OrderType.STOP_MARKET, "tp", stop_price=D("61000.0"), close_position=True
        )
    )
    exchange.pending_events()
    exchange.cancel_by_hand(BTC, "tp")
    exchange.close_position_by_hand(BTC)
    events = exchange.pending_events()
    updates = [e for e in events if isinstance(e, OrderUpdate)]
    assert updates[0].order.client_order_id == "tp"
    assert updates[0].order.status is OrderStatus.CANCELED
    assert updates[-1].fill is not None and updates[-1].order.client_order_id.startswith("web_")
    assert await exchange.positions() == ()
    assert exchange.close_position_by_hand(BTC) is None


async def test_execution_events_iterator_yields_in_order() -> None:
    exchange = make()
    await exchange.create_order(mkt(BTC, Side.BUY, "0.002", "e-1"))
    stream = exchange.execution_events()
    first = await anext(stream)
    assert isinstance(first, OrderUpdate) and first.order.status is OrderStatus.NEW
    await exchange.close()
    rest = [e async for e in stream]
    assert len(rest) == 2


async def test_klines_and_mark_price_queries() -> None:
    exchange = make()
    for i in range(5):
        p = D(60000 + i * 10)
        exchange.on_bar(BTC, START_MS + i * 60_000, p, p + 5, p - 5, p + 1)
    bars = await exchange.klines(BTC, "1m", limit=3)
    assert [b.open_time for b in bars] == [START_MS + i * 60_000 for i in (2, 3, 4)]
    assert bars[-1].close_time == START_MS + 5 * 60_000 - 1
    mark = await exchange.mark_price(BTC)
    assert mark.mark_price == D("60041") and mark.funding_rate == D("0.0001")
    assert mark.next_funding_time == 1_700_006_400_000
