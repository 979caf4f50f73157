"""A bar of the mark price beside the bar of the last price.

Mark-price stops (the protective stops' working type) and liquidation act on the mark's
own path; contract-price orders on the last's; a triggered stop fills at the last price
where the last had got to when the mark reached the level. Without a mark bar, the mark
follows the last price (the behaviour every other test relies on).
"""

from __future__ import annotations

from decimal import Decimal as D

from sim_helpers import START_MS, flat_core, mkt

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.orders import OrderRequest

BTC = "BTCUSDT"
T = START_MS + 60_000
# The last price wicks to 59,400; the mark, built from the index, only to 59,600.
LAST = (D("60000.0"), D("60050.0"), D("59400.0"), D("59900.0"))
CALM_MARK = (D("59990.0"), D("60020.0"), D("59600.0"), D("59890.0"))


def long_with_stop(level: str, working: WorkingType = WorkingType.MARK_PRICE):  # type: ignore[no-untyped-def]
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "0.010", "b1"))
    core.submit(
        OrderRequest(
            BTC, Side.SELL, OrderType.STOP_MARKET, "sl", None, stop_price=D(level),
            close_position=True, working_type=working,
        )
    )  # fmt: skip
    return core


def test_a_last_price_wick_does_not_trigger_a_mark_price_stop() -> None:
    core = long_with_stop("59500.0")
    core.on_bar(BTC, T, *LAST, mark=CALM_MARK)
    assert core.position_qty(BTC) == D("0.010")
    assert (core.last_price(BTC), core.mark_price(BTC).mark_price) == (LAST[3], CALM_MARK[3])
    assert [k.low for k in core.klines(BTC, "1m", mark=True)] == [CALM_MARK[2]]
    assert [k.low for k in core.klines(BTC, "1m")] == [LAST[2]]


def test_without_a_mark_bar_the_mark_follows_the_last_price_and_the_wick_stops_out() -> None:
    core = long_with_stop("59500.0")
    core.on_bar(BTC, T, *LAST)
    assert core.position_qty(BTC) == 0
    assert core.trades(BTC)[-1].price == D("59500.0")
    assert core.klines(BTC, "1m", mark=True) == []


def test_a_contract_price_stop_acts_on_the_last_price_whatever_the_mark() -> None:
    core = long_with_stop("59500.0", WorkingType.CONTRACT_PRICE)
    core.on_bar(BTC, T, *LAST, mark=CALM_MARK)
    assert core.position_qty(BTC) == 0
    assert core.trades(BTC)[-1].price == D("59500.0")


def test_a_mark_stop_fires_on_the_mark_and_fills_at_the_last_price_of_that_moment() -> None:
    core = long_with_stop("59500.0")
    last = (D("60000.0"), D("60050.0"), D("59600.0"), D("59900.0"))  # never reaches 59,500
    mark = (D("59990.0"), D("60020.0"), D("59400.0"), D("59890.0"))  # the mark does
    core.on_bar(BTC, T, *last, mark=mark)
    assert core.position_qty(BTC) == 0
    # Both walk open → high → low → close; on the high → low leg the mark meets 59,500
    # after (60,020 − 59,500) / (60,020 − 59,400) of its move, when the last price is at
    # 60,050 − 450 × 520 / 620 = 59,672.58…, on the 0.1 tick 59,672.6.
    assert core.trades(BTC)[-1].price == D("59672.6")


def test_a_mark_gap_at_the_open_fills_at_the_last_open() -> None:
    core = long_with_stop("59500.0")
    last = (D("59550.0"), D("59700.0"), D("59500.5"), D("59650.0"))
    mark = (D("59450.0"), D("59650.0"), D("59440.0"), D("59600.0"))  # opens through 59,500
    core.on_bar(BTC, T, *last, mark=mark)
    assert core.trades(BTC)[-1].price == D("59550.0")


def test_liquidation_follows_the_mark_not_the_last_price() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"))
    core.submit(mkt(BTC, Side.BUY, "2.500", "b1"))
    liq = core.account().positions[0].liquidation_price
    below, above = liq - D("100"), liq + D("100")
    # The last price wicks under the liquidation price; the mark stays above it.
    core.on_bar(BTC, T, D("60000.0"), D("60000.0"), below, D("59000.0"),
                mark=(D("60000.0"), D("60000.0"), above, D("59000.0")))  # fmt: skip
    assert core.position_qty(BTC) == D("2.500")
    # Now the mark goes under it while the last price stays above.
    core.on_bar(BTC, T + 60_000, D("59000.0"), D("59000.0"), above, D("59000.0"),
                mark=(D("59000.0"), D("59000.0"), below, D("59000.0")))  # fmt: skip
    assert core.position_qty(BTC) == 0
    assert core.trades(BTC)[-1].client_order_id.startswith("autoclose-")


def test_set_price_with_a_mark_moves_them_apart() -> None:
    core = flat_core()
    core.set_price(BTC, D("60000.0"), mark=D("59970.0"))
    assert core.last_price(BTC) == D("60000.0")
    assert core.mark_price(BTC).mark_price == D("59970.0")
    core.quiet_price(BTC, D("60100.0"), D("60080.0"))
    assert core.mark_price(BTC).mark_price == D("60080.0")
