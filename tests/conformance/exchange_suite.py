"""Exchange conformance suite: Binance USDⓈ-M behaviour, written only against ``Exchange``.

Reusable against any implementation: a test module subclasses ``ExchangeConformance``
and supplies a ``venue`` fixture returning a ``Venue`` — the exchange under test plus a
small ``MarketDriver`` (set prices, move time, act by hand) — so the same tests can run
against the in-process simulator and, unchanged, against its HTTP front through ccxt.

Prices are BTCUSDT's (tick 0.1, step 0.001, MIN_NOTIONAL 100). Expected money values are
computed by hand from the fill prices the venue reports, so any spread model passes as
long as fees, PnL and wallet agree to the last decimal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import pytest

from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.orders import Fill, Order, OrderRequest, PositionState
from quantum_trader.exchange.interface import (
    AccountUpdate,
    Exchange,
    OrderNotFound,
    OrderRejected,
    OrderUpdate,
)

SYMBOL = "BTCUSDT"
START_MS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC; next funding 2023-11-15 00:00
NEXT_FUNDING_MS = 1_700_006_400_000
D = Decimal


class MarketDriver(Protocol):
    """What a test needs besides the exchange: move the market and act as a person."""

    maker_fee: Decimal
    taker_fee: Decimal

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Last and mark price jump to ``price``."""
        ...

    async def set_mark(self, symbol: str, mark: Decimal) -> None:
        """Only the mark price moves."""
        ...

    async def advance_time(self, now_ms: int) -> None: ...

    async def close_position_by_hand(self, symbol: str) -> None: ...

    async def cancel_by_hand(self, symbol: str, client_order_id: str) -> None: ...


@dataclass
class Venue:
    exchange: Exchange
    driver: MarketDriver


_ids = itertools.count(1)


def cid(prefix: str = "qt") -> str:
    return f"{prefix}-{next(_ids)}"


def market(side: Side, qty: str, *, reduce_only: bool = False, client_id: str = "") -> OrderRequest:
    return OrderRequest(
        SYMBOL, side, OrderType.MARKET, client_id or cid(), D(qty), reduce_only=reduce_only
    )


def limit(side: Side, qty: str, price: str, **kw: object) -> OrderRequest:
    client_id = str(kw.pop("client_id", "")) or cid()
    return OrderRequest(SYMBOL, side, OrderType.LIMIT, client_id, D(qty), D(price), **kw)  # type: ignore[arg-type]


def stop(side: Side, stop_price: str, qty: str | None = None, **kw: object) -> OrderRequest:
    kind = kw.pop("type", OrderType.STOP_MARKET)
    return OrderRequest(
        SYMBOL,
        side,
        kind,  # type: ignore[arg-type]
        cid(),
        D(qty) if qty is not None else None,
        stop_price=D(stop_price),
        **kw,  # type: ignore[arg-type]
    )


async def fills_of(venue: Venue, order: Order) -> list[Fill]:
    trades = await venue.exchange.my_trades(order.symbol)
    return [t for t in trades if t.exchange_order_id == order.exchange_order_id]


async def position(venue: Venue) -> PositionState | None:
    for p in await venue.exchange.positions():
        if p.symbol == SYMBOL:
            return p
    return None


async def rejected_code(venue: Venue, request: OrderRequest) -> int:
    with pytest.raises(OrderRejected) as caught:
        await venue.exchange.create_order(request)
    return caught.value.code


class ExchangeConformance:
    """Subclass as ``Test…`` and provide a ``venue`` fixture."""

    async def test_open_and_close_long_books_exact_pnl_and_fees(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        start = (await ex.account()).wallet_balance
        await drv.set_price(SYMBOL, D("60000.0"))
        buy = await ex.create_order(market(Side.BUY, "0.002"))
        assert buy.status is OrderStatus.FILLED and buy.executed_qty == D("0.002")
        await drv.set_price(SYMBOL, D("61000.0"))
        sell = await ex.create_order(market(Side.SELL, "0.002", reduce_only=True))
        (fb,) = await fills_of(venue, buy)
        (fs,) = await fills_of(venue, sell)
        assert fb.commission == fb.price * D("0.002") * drv.taker_fee
        assert fs.commission == fs.price * D("0.002") * drv.taker_fee
        assert fs.realized_pnl == (fs.price - fb.price) * D("0.002")
        assert not fb.maker and not fs.maker
        wallet = (await ex.account()).wallet_balance
        assert wallet == start + fs.realized_pnl - fb.commission - fs.commission
        assert await position(venue) is None

    async def test_open_and_close_short(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        start = (await ex.account()).wallet_balance
        await drv.set_price(SYMBOL, D("60000.0"))
        sell = await ex.create_order(market(Side.SELL, "0.003"))
        pos = await position(venue)
        assert pos is not None and pos.side == "SHORT" and pos.qty == D("0.003")
        await drv.set_price(SYMBOL, D("59000.0"))
        buy = await ex.create_order(market(Side.BUY, "0.003", reduce_only=True))
        (fs,) = await fills_of(venue, sell)
        (fb,) = await fills_of(venue, buy)
        assert fb.realized_pnl == (fs.price - fb.price) * D("0.003")
        assert fb.realized_pnl > 0
        wallet = (await ex.account()).wallet_balance
        assert wallet == start + fb.realized_pnl - fs.commission - fb.commission

    async def test_average_entry_on_adds_and_partial_close(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        first = await ex.create_order(market(Side.BUY, "0.002"))
        await drv.set_price(SYMBOL, D("60300.0"))
        second = await ex.create_order(market(Side.BUY, "0.003"))
        entry = (first.avg_price * D("0.002") + second.avg_price * D("0.003")) / D("0.005")
        pos = await position(venue)
        assert pos is not None and pos.qty == D("0.005") and pos.entry_price == entry
        await drv.set_price(SYMBOL, D("60500.0"))
        part = await ex.create_order(market(Side.SELL, "0.002", reduce_only=True))
        (fill,) = await fills_of(venue, part)
        assert fill.realized_pnl == (fill.price - entry) * D("0.002")
        pos = await position(venue)
        assert pos is not None and pos.qty == D("0.003") and pos.entry_price == entry

    async def test_unrealized_pnl_on_mark(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        buy = await ex.create_order(market(Side.BUY, "0.010"))
        await drv.set_mark(SYMBOL, D("60250.0"))
        pos = await position(venue)
        assert pos is not None
        assert pos.unrealized_pnl == (D("60250.0") - buy.avg_price) * D("0.010")
        account = await ex.account()
        assert account.margin_balance == account.wallet_balance + pos.unrealized_pnl

    async def test_flip_through_zero_realizes_then_reopens(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        buy = await ex.create_order(market(Side.BUY, "0.002"))
        await drv.set_price(SYMBOL, D("60100.0"))
        sell = await ex.create_order(market(Side.SELL, "0.005"))
        (fill,) = await fills_of(venue, sell)
        assert fill.realized_pnl == (fill.price - buy.avg_price) * D("0.002")
        pos = await position(venue)
        assert pos is not None and pos.side == "SHORT" and pos.qty == D("0.003")
        assert pos.entry_price == fill.price

    async def test_reduce_only_is_rejected_when_it_cannot_reduce(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        assert await rejected_code(venue, market(Side.SELL, "0.002", reduce_only=True)) == -2022
        await ex.create_order(market(Side.BUY, "0.002"))
        assert await rejected_code(venue, market(Side.BUY, "0.002", reduce_only=True)) == -2022

    async def test_reduce_only_is_cut_to_the_position(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.002"))
        close = await ex.create_order(market(Side.SELL, "0.005", reduce_only=True))
        assert close.executed_qty == D("0.002")
        assert await position(venue) is None

    async def test_close_position_stop_after_partial_closes(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.005"))
        guard = await ex.create_order(stop(Side.SELL, "59000.0", close_position=True))
        assert guard.status is OrderStatus.NEW
        await ex.create_order(market(Side.SELL, "0.001", reduce_only=True))
        await ex.create_order(market(Side.SELL, "0.002", reduce_only=True))
        await drv.set_price(SYMBOL, D("58900.0"))
        done = await ex.fetch_order(SYMBOL, guard.client_order_id)
        assert done.status is OrderStatus.FILLED and done.executed_qty == D("0.002")
        assert await position(venue) is None
        assert await ex.open_orders(SYMBOL) == []

    async def test_close_position_stop_is_cancelled_when_flat(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.002"))
        guard = await ex.create_order(stop(Side.SELL, "59000.0", close_position=True))
        await drv.close_position_by_hand(SYMBOL)
        after = await ex.fetch_order(SYMBOL, guard.client_order_id)
        assert after.status is OrderStatus.CANCELED
        assert await ex.open_orders() == []

    async def test_stop_triggers_on_mark_not_last(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.004"))
        on_mark = await ex.create_order(stop(Side.SELL, "59500.0", "0.002", reduce_only=True))
        on_last = await ex.create_order(
            stop(
                Side.SELL,
                "59500.0",
                "0.002",
                reduce_only=True,
                working_type=WorkingType.CONTRACT_PRICE,
            )
        )
        await drv.set_mark(SYMBOL, D("59400.0"))
        assert (await ex.fetch_order(SYMBOL, on_mark.client_order_id)).status == "FILLED"
        assert (await ex.fetch_order(SYMBOL, on_last.client_order_id)).status == "NEW"
        pos = await position(venue)
        assert pos is not None and pos.qty == D("0.002")

    async def test_take_profit_triggers_on_rise(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.002"))
        tp = await ex.create_order(
            stop(Side.SELL, "61000.0", type=OrderType.TAKE_PROFIT_MARKET, close_position=True)
        )
        await drv.set_price(SYMBOL, D("60999.9"))
        assert (await ex.fetch_order(SYMBOL, tp.client_order_id)).status == "NEW"
        await drv.set_price(SYMBOL, D("61000.0"))
        assert (await ex.fetch_order(SYMBOL, tp.client_order_id)).status == "FILLED"

    async def test_resting_limit_fills_as_maker_at_its_price(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        order = await ex.create_order(limit(Side.BUY, "0.002", "59900.0"))
        assert order.status is OrderStatus.NEW
        assert [o.client_order_id for o in await ex.open_orders(SYMBOL)] == [order.client_order_id]
        await drv.set_price(SYMBOL, D("59850.0"))
        (fill,) = await fills_of(venue, order)
        assert fill.maker and fill.price == D("59900.0")
        assert fill.commission == D("59900.0") * D("0.002") * drv.maker_fee

    async def test_funding_is_paid_on_mark_times_position(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.010"))
        await drv.set_mark(SYMBOL, D("60100.0"))
        rate = (await ex.mark_price(SYMBOL)).funding_rate
        before = (await ex.account()).wallet_balance
        await drv.advance_time(NEXT_FUNDING_MS - 1)
        assert (await ex.account()).wallet_balance == before
        await drv.advance_time(NEXT_FUNDING_MS)
        after = (await ex.account()).wallet_balance
        assert after - before == -(D("0.010") * D("60100.0") * rate)

    async def test_funding_rate_history_holds_each_settlement_once_it_is_past(
        self, venue: Venue
    ) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))  # the market begins before the first one
        rate = (await ex.mark_price(SYMBOL)).funding_rate
        assert await ex.funding_rates(START_MS - 86_400_000) == []
        await drv.advance_time(NEXT_FUNDING_MS + 8 * 3_600_000 + 5)
        second = NEXT_FUNDING_MS + 8 * 3_600_000
        rows = await ex.funding_rates(START_MS - 86_400_000)
        assert [(r.symbol, r.funding_time, r.rate) for r in rows] == [
            (SYMBOL, NEXT_FUNDING_MS, rate),
            (SYMBOL, second, rate),
        ]
        assert await ex.funding_rates(START_MS, symbol=SYMBOL) == rows
        assert await ex.funding_rates(NEXT_FUNDING_MS + 1) == rows[1:]
        assert await ex.funding_rates(START_MS, end_ms=second - 1) == rows[:1]
        assert await ex.funding_rates(START_MS, symbol="ETHUSDT") == []  # no market yet

    async def test_liquidation_closes_at_mark(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.set_leverage(SYMBOL, 20)
        await ex.create_order(market(Side.BUY, "2.500"))
        await drv.set_price(SYMBOL, D("57000.0"))
        assert await position(venue) is not None
        await drv.set_price(SYMBOL, D("55000.0"))
        assert await position(venue) is None
        trades = await ex.my_trades(SYMBOL)
        assert trades[-1].client_order_id.startswith("autoclose-")
        assert trades[-1].side is Side.SELL and trades[-1].qty == D("2.500")
        assert (await ex.account()).wallet_balance >= 0

    async def test_client_order_id_unique_while_open(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        first = await ex.create_order(limit(Side.BUY, "0.002", "59000.0", client_id="dup-1"))
        assert (
            await rejected_code(venue, limit(Side.BUY, "0.002", "58000.0", client_id="dup-1"))
            == -4116
        )
        await drv.cancel_by_hand(SYMBOL, "dup-1")
        assert (await ex.fetch_order(SYMBOL, "dup-1")).status is OrderStatus.CANCELED
        again = await ex.create_order(limit(Side.BUY, "0.002", "58000.0", client_id="dup-1"))
        assert again.exchange_order_id != first.exchange_order_id
        assert (await ex.fetch_order(SYMBOL, "dup-1")).price == D("58000.0")

    async def test_unknown_orders(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        with pytest.raises(OrderNotFound):
            await ex.fetch_order(SYMBOL, "never-placed")
        with pytest.raises(OrderNotFound):
            await ex.cancel_order(SYMBOL, "never-placed")
        filled = await ex.create_order(market(Side.BUY, "0.002"))
        with pytest.raises(OrderRejected) as caught:
            await ex.cancel_order(SYMBOL, filled.client_order_id)
        assert caught.value.code == -2011

    @pytest.mark.parametrize(
        ("request_", "code"),
        [
            (limit(Side.BUY, "0.002", "59000.15"), -4014),  # off the 0.10 tick
            (limit(Side.BUY, "0.002", "59000.123"), -1111),  # beyond pricePrecision 2
            (limit(Side.BUY, "0.0025", "59000.0"), -1111),  # beyond quantityPrecision 3
            (limit(Side.BUY, "0", "59000.0"), -4003),
            (limit(Side.BUY, "1001", "59000.0"), -4005),  # LOT_SIZE maxQty 1000
            (market(Side.BUY, "121"), -4005),  # MARKET_LOT_SIZE maxQty 120
            (limit(Side.BUY, "0.002", "500.0"), -4013),  # below minPrice 556.80
            (limit(Side.BUY, "0.001", "59000.0"), -4164),  # 59 < MIN_NOTIONAL 100
            (limit(Side.BUY, "0.002", "49999.9"), -4164),  # 99.9998 < 100
            (market(Side.BUY, "4.000"), -2019),  # 240,000 at 20x needs 12,000 > 10,000
            (stop(Side.SELL, "60100.0", "0.002"), -2021),  # sell stop above the mark
            (stop(Side.BUY, "59900.0", "0.002"), -2021),  # buy stop below the mark
        ],
    )
    async def test_rejection_codes(self, venue: Venue, request_: OrderRequest, code: int) -> None:
        await venue.driver.set_price(SYMBOL, D("60000.0"))
        assert await rejected_code(venue, request_) == code
        assert await venue.exchange.open_orders() == []
        assert await venue.exchange.my_trades(SYMBOL) == []

    async def test_max_position_at_leverage(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        assert await ex.set_leverage(SYMBOL, 125) == 125
        assert await rejected_code(venue, market(Side.BUY, "1.000")) == -2027  # cap 50,000
        await ex.create_order(market(Side.BUY, "0.500"))  # 30,000 fits

    async def test_filter_edges_that_pass(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        exactly_min = await ex.create_order(limit(Side.BUY, "0.002", "50000.0"))  # 100.000
        assert exactly_min.status is OrderStatus.NEW
        zeros = await ex.create_order(limit(Side.BUY, "0.0020", "50000.00"))  # trailing zeros
        assert zeros.status is OrderStatus.NEW
        await ex.create_order(market(Side.BUY, "0.002"))
        # Reduce-only is exempt from MIN_NOTIONAL, as on Binance.
        small = await ex.create_order(market(Side.SELL, "0.001", reduce_only=True))
        assert small.status is OrderStatus.FILLED
        post_only = limit(Side.BUY, "0.002", "60100.0", time_in_force=TimeInForce.GTX)
        assert await rejected_code(venue, post_only) == -5022

    async def test_execution_events_mirror_fills(self, venue: Venue) -> None:
        ex, drv = venue.exchange, venue.driver
        await drv.set_price(SYMBOL, D("60000.0"))
        await ex.create_order(market(Side.BUY, "0.002"))
        await ex.create_order(market(Side.SELL, "0.002", reduce_only=True))
        await ex.close()
        events = [e async for e in ex.execution_events()]
        fills = [e.fill for e in events if isinstance(e, OrderUpdate) and e.fill is not None]
        assert fills == list(await ex.my_trades(SYMBOL))
        reasons = [e.reason for e in events if isinstance(e, AccountUpdate)]
        assert reasons == ["ORDER", "ORDER"]
        assert isinstance(events[-1], AccountUpdate) and events[-1].account.positions == ()
