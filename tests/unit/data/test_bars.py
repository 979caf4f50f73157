"""BarSeries: columns, slicing and exact Decimal conversion on the tick."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.data.bars import BarSeries, DataError, interval_ms
from tests.unit.data.samples import make_series


def test_interval_lengths_follow_binance_names() -> None:
    assert interval_ms("1m") == 60_000
    assert interval_ms("4h") == 14_400_000
    assert interval_ms("1d") == 86_400_000
    assert interval_ms("1w") == 7 * 86_400_000


@pytest.mark.parametrize("bad", ["", "5", "m5", "0m", "1M", "1y"])
def test_unknown_interval_is_a_clear_error(bad: str) -> None:
    with pytest.raises(DataError, match="unknown interval"):
        interval_ms(bad)


def test_columns_of_different_length_are_rejected() -> None:
    with pytest.raises(DataError, match="column high"):
        BarSeries(
            "X", "1m", np.arange(3), np.ones(3), np.ones(2), np.ones(3), np.ones(3), np.ones(3)
        )


def test_bar_at_rounds_float_noise_to_the_tick() -> None:
    series = BarSeries(
        "XRPUSDT",
        "5m",
        np.array([0]),
        np.array([1.2065000000000001]),
        np.array([1.3]),
        np.array([1.1]),
        np.array([0.1 + 0.2]),
        np.array([10.123456]),
    )
    kline = series.bar_at(0, Decimal("0.0001"), Decimal("0.1"))
    assert kline.open == Decimal("1.2065")
    assert kline.close == Decimal("0.3000")
    assert kline.volume == Decimal("10.1")
    assert kline.close_time == 299_999
    assert str(kline.high) == "1.3000"


def test_bar_at_without_tick_uses_the_shortest_decimal() -> None:
    kline = make_series([100.5, 101.25]).bar_at(1)
    assert kline.close == Decimal("101.25")
    assert kline.open == Decimal("100.5")


def test_to_klines_and_negative_index() -> None:
    series = make_series([1.0, 2.0, 3.0])
    klines = series.to_klines(Decimal("0.01"))
    assert [k.close for k in klines] == [Decimal("1.00"), Decimal("2.00"), Decimal("3.00")]
    assert series.bar_at(-1).close == Decimal("3")
    with pytest.raises(IndexError):
        series.bar_at(3)


def test_between_and_slice_select_by_time_and_position() -> None:
    series = make_series([1.0, 2.0, 3.0, 4.0])
    t = series.open_time
    assert list(series.between(int(t[1]), int(t[3])).close) == [2.0, 3.0]
    assert list(series.slice(2).close) == [3.0, 4.0]


def test_concat_refuses_mixed_symbols() -> None:
    with pytest.raises(DataError, match="cannot join"):
        BarSeries.concat([make_series([1.0]), make_series([1.0], symbol="OTHER")])


def test_equals_is_bitwise() -> None:
    a = make_series([1.0, 2.0])
    b = make_series([1.0, 2.0])
    assert a.equals(b)
    c = make_series([1.0, np.nextafter(2.0, 3.0)])
    assert not a.equals(c)
