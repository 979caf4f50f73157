"""MatchingCore: hand-computed money, intrabar paths, conditional and reduce-only rules."""

from __future__ import annotations

import csv
import dataclasses
from decimal import Decimal as D

import pytest
from sim_helpers import START_MS, flat_core, mkt, shared_file

from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import AccountUpdate, OrderRejected, OrderUpdate
from quantum_trader.exchange.sim import FundingSchedule, MatchingCore, SlippageModel
from quantum_trader.exchange.sim.universe import default_universe

BTC = "BTCUSDT"


def stop(cid: str, side: Side, level: str, qty: str | None = None, **kw: object) -> OrderRequest:
    return OrderRequest(
        BTC,
        side,
        OrderType.STOP_MARKET,
        cid,
        D(qty) if qty else None,
        stop_price=D(level),
        **kw,  # type: ignore[arg-type]
    )


def test_round_trip_by_hand() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "0.010", "b1"))
    core.set_price(BTC, D("60123.4"))
    core.submit(mkt(BTC, Side.SELL, "0.010", "s1", reduce_only=True))
    # 0.010 × 60000.0 × 0.0005 = 0.3 ; 0.010 × 60123.4 × 0.0005 = 0.300617
    # PnL 0.010 × 123.4 = 1.234 ; wallet 10000 + 1.234 − 0.3 − 0.300617 = 10000.633383
    fills = core.trades(BTC)
    assert [f.commission for f in fills] == [D("0.3"), D("0.300617")]
    assert fills[1].realized_pnl == D("1.234")
    assert core.account().wallet_balance == D("10000.633383")


def test_default_slippage_is_one_tick_plus_impact() -> None:
    from quantum_trader.exchange.sim import SimConfig

    core = MatchingCore(config=SimConfig(starting_balance=D(100_000)), seed=3, start_ms=START_MS)
    core.set_price(BTC, D("60000.0"))
    small = core.submit(mkt(BTC, Side.BUY, "0.010", "b1"))
    assert small.avg_price == D("60000.1")
    big = core.submit(mkt(BTC, Side.SELL, "5.000", "s1"))  # 300,000 notional: +1 tick impact
    assert big.avg_price == D("59999.8")


def test_jitter_is_seeded() -> None:
    from quantum_trader.exchange.sim import SimConfig

    def prices(seed: int) -> list[D]:
        cfg = SimConfig(slippage=SlippageModel(jitter_ticks=5))
        core = MatchingCore(config=cfg, seed=seed, start_ms=START_MS)
        core.set_price(BTC, D("60000.0"))
        return [core.submit(mkt(BTC, Side.BUY, "0.002", f"b{i}")).avg_price for i in range(20)]

    assert prices(11) == prices(11)
    assert prices(11) != prices(12)


@pytest.mark.parametrize(
    ("bar", "expected_fill"),
    [
        # open nearer the high: path o→h→l→c, the buy stop at 60200 fires first
        (("60000", "60250", "59500", "59800"), "first-up"),
        # open nearer the low: path o→l→h→c, the sell stop at 59800 fires first
        (("60000", "60500", "59750", "60100"), "first-down"),
    ],
)
def test_intrabar_path_visits_nearer_extreme_first(
    bar: tuple[str, ...], expected_fill: str
) -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(stop("first-up", Side.BUY, "60200.0", "0.002"))
    core.submit(stop("first-down", Side.SELL, "59800.0", "0.002"))
    o, h, low, c = (D(x) for x in bar)
    core.on_bar(BTC, START_MS + 60_000, o, h, low, c)
    fills = core.trades(BTC)
    assert fills[0].client_order_id == expected_fill
    assert fills[0].price == D("60200.0") if expected_fill == "first-up" else D("59800.0")


def test_stop_gapped_through_fills_at_the_open() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "0.002", "b1"))
    core.submit(stop("sl", Side.SELL, "59000.0", close_position=True))
    core.on_bar(BTC, START_MS + 60_000, D("58000"), D("58500"), D("57900"), D("58100"))
    (_, exit_fill) = core.trades(BTC)
    assert exit_fill.price == D("58000.0")


def test_resting_limit_fills_inside_bar_as_maker() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "l1", D("0.002"), D("59500.0")))
    core.on_bar(BTC, START_MS + 60_000, D("60000"), D("60100"), D("59600"), D("59700"))
    assert core.trades(BTC) == []
    core.on_bar(BTC, START_MS + 120_000, D("59700"), D("59800"), D("59400"), D("59450"))
    (fill,) = core.trades(BTC)
    assert (fill.price, fill.maker, fill.commission) == (D("59500.0"), True, D("0.0238"))


def test_reduce_only_stop_expires_when_position_is_gone() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "0.002", "b1"))
    core.submit(stop("sl", Side.SELL, "59000.0", "0.002", reduce_only=True))
    core.submit(mkt(BTC, Side.SELL, "0.002", "s1", reduce_only=True))
    core.set_price(BTC, D("58900.0"))
    assert core.order(BTC, "sl").status is OrderStatus.EXPIRED
    assert core.position_qty(BTC) == 0


def test_reduce_only_stop_is_cut_to_the_position() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "0.003", "b1"))
    core.submit(stop("sl", Side.SELL, "59000.0", "0.005", reduce_only=True))
    core.set_price(BTC, D("58900.0"))
    order = core.order(BTC, "sl")
    assert order.executed_qty == D("0.003") and core.position_qty(BTC) == 0


def test_quantity_below_min_qty_when_min_exceeds_step() -> None:
    base = default_universe()[BTC]
    coarse = dataclasses.replace(base, min_qty=D("0.010"), market_min_qty=D("0.010"))
    core = MatchingCore({BTC: coarse}, start_ms=START_MS)
    core.set_price(BTC, D("60000.0"))
    with pytest.raises(OrderRejected) as caught:
        core.submit(mkt(BTC, Side.BUY, "0.005", "b1"))
    assert caught.value.code == -4004


def test_leverage_limits() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    with pytest.raises(OrderRejected) as caught:
        core.set_leverage(BTC, 126)
    assert caught.value.code == -4028
    assert caught.value.message == "Leverage 126 is not valid"
    core.submit(mkt(BTC, Side.BUY, "1.000", "b1"))  # 60,000 at 20x
    with pytest.raises(OrderRejected) as caught:
        core.set_leverage(BTC, 125)  # 125x caps the position at 50,000
    assert caught.value.code == -2027
    with pytest.raises(OrderRejected) as caught:
        core.set_leverage(BTC, 5)  # 12,000 initial margin > 10,000 balance
    assert caught.value.code == -2028
    assert core.positions()[0].leverage == 20


def test_min_notional_message_is_binance_text() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    with pytest.raises(OrderRejected) as caught:
        core.submit(mkt(BTC, Side.BUY, "0.001", "b1"))
    assert caught.value.message == (
        "Order's notional must be no smaller than 100 (unless you choose reduce only)."
    )


def test_liquidation_event_sequence_and_price() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "2.500", "b1"))
    core.submit(stop("sl", Side.SELL, "50000.0", close_position=True))
    account = core.account()
    liq = account.positions[0].liquidation_price
    # wallet 9925 after the 75 fee; long: p = (cost − wallet − cum) / (q × (1 − mmr))
    assert liq == core.instrument(BTC).round_price(
        (D("150000") - D("9925") - D("50")) / (D("2.5") * (1 - D("0.005")))
    )
    core.drain_events()
    core.set_mark(BTC, liq + D("50"))
    assert core.position_qty(BTC) != 0
    core.set_mark(BTC, liq - D("50"))
    events = core.drain_events()
    assert core.position_qty(BTC) == 0
    assert isinstance(events[-1], AccountUpdate) and events[-1].reason == "LIQUIDATION"
    order_events = [e for e in events if isinstance(e, OrderUpdate)]
    assert order_events[0].order.client_order_id == "sl"
    assert order_events[0].order.status is OrderStatus.CANCELED
    closing = order_events[-1]
    assert closing.order.client_order_id.startswith("autoclose-")
    assert closing.fill is not None and closing.fill.price == liq - D("50")
    assert closing.fill.commission == closing.fill.price * D("2.5") * D("0.0125")


def test_funding_follows_a_recorded_rate_series() -> None:
    path = shared_file("klines/XRPUSDT-fundingRate-2021-11-18_2021-12-18.csv")
    with path.open() as handle:
        rows = [(int(r["calc_time"]), D(r["last_funding_rate"])) for r in csv.DictReader(handle)]
    first = rows[0][0] // 28_800_000 * 28_800_000
    core = MatchingCore(
        funding=FundingSchedule(series={"XRPUSDT": rows}), seed=1, start_ms=first - 60_000
    )
    core.set_price("XRPUSDT", D("1.0000"))
    core.submit(mkt("XRPUSDT", Side.SELL, "1000.0", "s1"))
    wallet = core.account().wallet_balance
    core.advance_time(rows[-1][0])
    paid = core.history().funding
    assert len(paid) == len(rows)
    assert [p.rate for p in paid] == [r for _, r in rows]
    mark = core.mark_price("XRPUSDT").mark_price
    expected = sum((D("1000.0") * mark * r for _, r in rows), D(0))  # a short receives
    assert core.account().wallet_balance - wallet == expected


def test_history_keeps_reused_client_ids() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "x", D("0.002"), D("59000.0")))
    core.cancel(BTC, "x")
    core.submit(OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "x", D("0.002"), D("58000.0")))
    orders = [o for o in core.all_orders() if o.client_order_id == "x"]
    assert [o.status for o in orders] == [OrderStatus.CANCELED, OrderStatus.NEW]
    assert len({o.exchange_order_id for o in orders}) == 2


def test_ioc_limit_that_does_not_cross_expires() -> None:
    from quantum_trader.domain.enums import TimeInForce

    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    order = core.submit(
        OrderRequest(
            BTC,
            Side.BUY,
            OrderType.LIMIT,
            "i",
            D("0.002"),
            D("59000.0"),
            time_in_force=TimeInForce.IOC,
        )
    )
    assert order.status is OrderStatus.EXPIRED and core.open_orders() == []


def test_crossing_limit_fills_as_taker_capped_at_its_price() -> None:
    core = MatchingCore(seed=1, start_ms=START_MS)
    core.set_price(BTC, D("60000.0"))
    order = core.submit(OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "l", D("0.002"), D("60000.0")))
    (fill,) = core.trades(BTC)
    assert order.status is OrderStatus.FILLED
    assert fill.price == D("60000.0") and not fill.maker
