"""Candles of any interval from the bars fed, the synthetic order book, order amendment."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import numpy as np
import pytest
from sim_helpers import flat_core, mkt, shared_file

from quantum_trader.data.binance import load_klines
from quantum_trader.data.resample import resample, resample_klines
from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from quantum_trader.domain.money import is_multiple
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderRejected
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.exchange.sim.candles import candles, split
from quantum_trader.exchange.sim.http.depth import BookFeed, ladder

D = Decimal
XRP = "XRPUSDT"


@pytest.fixture(scope="module")
def fed() -> MatchingCore:
    """A core fed the first 600 of Binance's recorded XRPUSDT 5m bars."""
    series = load_klines(shared_file("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")).slice(0, 600)
    core = MatchingCore(start_ms=int(series.open_time[0]))
    instrument = core.instrument(XRP)
    for i in range(len(series)):
        k = series.bar_at(i, instrument.tick_size, instrument.step_size)
        core.on_bar(XRP, k.open_time, k.open, k.high, k.low, k.close, k.volume, "5m")
    return core


def test_coarser_candles_are_the_resampled_bars(fed: MatchingCore) -> None:
    series = load_klines(shared_file("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")).slice(0, 600)
    expected = resample(series, "1h")
    hours = candles(fed, XRP, "1h", limit=1000)
    assert [k.open_time for k in hours] == expected.open_time.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        got = np.array([float(getattr(k, name)) for k in hours])
        assert np.allclose(got, getattr(expected, name), rtol=1e-12, atol=1e-9), name
    assert all(k.close_time == k.open_time + 3_600_000 - 1 for k in hours)


def test_finer_candles_follow_the_bar_path_and_resample_back(fed: MatchingCore) -> None:
    bars = fed.klines(XRP, "5m", 600)
    minutes = candles(fed, XRP, "1m", limit=1500)
    assert len(minutes) == 1500 and minutes[-1].close == bars[-1].close
    tick, step = fed.instrument(XRP).tick_size, fed.instrument(XRP).step_size
    assert all(is_multiple(k.open, tick) and is_multiple(k.close, tick) for k in minutes)
    assert all(is_multiple(k.volume, step) for k in minutes)
    assert resample_klines(minutes, "5m") == bars[-300:]  # exact, volume included
    threes = candles(fed, XRP, "3m", start=bars[10].open_time, limit=5)
    assert [k.open_time % 180_000 for k in threes] == [0] * 5
    assert threes[0].open_time >= bars[10].open_time


def test_a_bar_splits_along_open_nearer_extreme_farther_extreme_close(fed: MatchingCore) -> None:
    bar = fed.klines(XRP, "5m", 1)[0]
    pieces = split(bar, 5, fed.instrument(XRP))
    assert [p.open_time for p in pieces] == [bar.open_time + 60_000 * j for j in range(5)]
    assert pieces[0].open == bar.open and pieces[-1].close == bar.close
    assert max(p.high for p in pieces) == bar.high and min(p.low for p in pieces) == bar.low
    assert all(a.close == b.open for a, b in pairwise(pieces))
    assert sum(p.volume for p in pieces) == bar.volume


def test_the_book_is_a_ladder_on_the_tick_and_step_around_the_last_price() -> None:
    core = flat_core()
    assert ladder(core.instrument("BTCUSDT"), D(0), core.config.slippage, 5) == ((), ())
    core.set_price("BTCUSDT", D("60000.04"))
    feed = BookFeed()
    book = feed.book(core, "BTCUSDT", 20)
    instrument = core.instrument("BTCUSDT")
    assert book.bids[0][0] < D("60000.04") < book.asks[0][0]
    for side in (book.bids, book.asks):
        assert len(side) == 20
        prices = [p for p, _ in side]
        assert all(abs(a - b) == instrument.tick_size for a, b in pairwise(prices))
        assert all(is_multiple(q, instrument.step_size) and q > 0 for _, q in side)
    assert feed.book(core, "BTCUSDT", 20) == book  # nothing moved: the same book, same id
    core.set_price("BTCUSDT", D("60001"))
    assert feed.book(core, "BTCUSDT", 20).update_id == book.update_id + 1


def test_an_amended_order_keeps_its_ids_and_rules_apply() -> None:
    core = flat_core()
    core.set_price("BTCUSDT", D("60000"))
    limit = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, "a-1", D("0.002"), D("59000"))
    placed = core.submit(limit)
    moved = core.modify("BTCUSDT", "a-1", D("0.003"), D("59500"))
    assert (moved.exchange_order_id, moved.quantity, moved.price) == (
        placed.exchange_order_id, D("0.003"), D("59500"),
    )  # fmt: skip
    with pytest.raises(OrderRejected) as same:
        core.modify("BTCUSDT", "a-1", D("0.003"), D("59500"))
    assert same.value.code == -5027
    with pytest.raises(OrderRejected) as off_tick:
        core.modify("BTCUSDT", "a-1", D("0.003"), D("59500.05"))
    assert off_tick.value.code == -4014 and core.order("BTCUSDT", "a-1").price == D("59500")
    crossed = core.modify("BTCUSDT", "a-1", D("0.003"), D("60100"))
    assert crossed.status is OrderStatus.FILLED and crossed.avg_price == D("60000")
    post_only = OrderRequest("BTCUSDT", Side.SELL, OrderType.LIMIT, "a-2", D("0.002"),
                             D("61000"), time_in_force=TimeInForce.GTX)  # fmt: skip
    core.submit(post_only)
    assert core.modify("BTCUSDT", "a-2", D("0.002"), D("59000")).status is OrderStatus.EXPIRED
    core.submit(mkt("BTCUSDT", Side.BUY, "0.002", "a-3"))
    with pytest.raises(OrderRejected) as market:
        core.modify("BTCUSDT", "a-3", D("0.003"), D("59000"))
    assert market.value.code == -2013  # filled: no longer open
