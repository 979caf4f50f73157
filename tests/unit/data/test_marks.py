"""Mark-price klines: found beside the bars, aligned on them, or made for a synthetic market."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.data import MarketConfig, generate_market, load_all
from quantum_trader.data.bars import DataError
from quantum_trader.data.binance import load_klines
from quantum_trader.data.marks import (
    LAST_PRICE,
    align_marks,
    find_marks,
    mark_bars,
    mark_dump_name,
    synthetic_mark_bars,
    synthetic_marks,
)
from quantum_trader.data.writers import write_klines_csv
from tests.unit.data.samples import make_series, real_file

REAL_MARKS = "XRPUSDT-markPriceKlines-1h-2021-11-15_2021-11-19.csv"
REAL_BARS = "XRPUSDT-1h-2021-11-17_2021-11-21.csv"


@pytest.fixture
def real_pair(tmp_path: Path) -> Path:
    for name in (REAL_MARKS, REAL_BARS):
        shutil.copy(real_file(name), tmp_path / name)
    return tmp_path


def test_real_mark_klines_are_found_beside_a_file_and_under_a_directory(real_pair: Path) -> None:
    beside = find_marks(real_pair / REAL_BARS)
    under = find_marks(real_pair, ["XRPUSDT"])
    assert set(beside) == set(under) == {"XRPUSDT"}
    marks = under["XRPUSDT"]
    assert marks.interval == "1h" and len(marks) == len(load_klines(real_file(REAL_MARKS)))
    assert find_marks(real_pair, ["BTCUSDT"]) == {}


def test_mark_files_are_not_read_as_trade_bars(real_pair: Path) -> None:
    assert [r.series.symbol for r in load_all(real_pair)] == ["XRPUSDT"]
    assert len(load_all(real_pair)[0].series) == len(load_klines(real_pair / REAL_BARS))


def test_aligned_on_the_bars_a_bar_without_a_mark_takes_the_last_price(real_pair: Path) -> None:
    bars = load_klines(real_pair / REAL_BARS)
    found = find_marks(real_pair)
    aligned, missing = align_marks(bars, found["XRPUSDT"])
    assert np.array_equal(aligned.open_time, bars.open_time)
    overlap = np.isin(bars.open_time, found["XRPUSDT"].open_time)
    assert missing == int((~overlap).sum()) > 0
    assert np.array_equal(aligned.close[~overlap], bars.close[~overlap])
    assert not np.array_equal(aligned.close[overlap], bars.close[overlap])  # a real basis
    basis = np.abs(aligned.close[overlap] / bars.close[overlap] - 1)
    assert float(basis.max()) < 0.01
    source = mark_bars([bars], found).source
    assert source == f"files: 1 symbols ({missing} bars without a mark took the last price)"


def test_finer_marks_resample_coarser_ones_are_not_used(real_pair: Path) -> None:
    marks = find_marks(real_pair)["XRPUSDT"]
    five = load_klines(real_file("XRPUSDT-5m-2021-11-15_2021-11-21.csv"))
    with pytest.raises(DataError, match="coarser than the 5m bars"):
        align_marks(five, marks)
    unused = mark_bars([five], {"XRPUSDT": marks})
    assert unused.series == {}
    assert unused.source == f"{LAST_PRICE} (mark klines coarser than the bars: XRPUSDT 1h)"
    minute = make_series([1.0 + i * 0.0001 for i in range(180)])
    resampled, missing = align_marks(make_series([1.0] * 3, interval="1h"), minute)
    assert missing == 0 and resampled.interval == "1h"
    assert resampled.close.tolist() == pytest.approx([1.0059, 1.0119, 1.0179])


def test_marks_of_another_market_are_refused_naming_the_symbol() -> None:
    bars = make_series([100.0 + i for i in range(10)])
    other = make_series([5.0 + i for i in range(10)])
    with pytest.raises(DataError, match=r"TESTUSDT: mark prices sit .* from the last prices"):
        align_marks(bars, other)


def test_a_synthetic_mark_sits_a_few_bps_from_the_last_price_with_smaller_wicks() -> None:
    market = generate_market(["BTCUSDT", "ETHUSDT"], 5_000, MarketConfig(seed=3))
    bars = market.bars["BTCUSDT"]
    marks = synthetic_marks(market, "BTCUSDT", bars)
    assert np.array_equal(marks.close, synthetic_marks(market, "BTCUSDT", bars).close)
    basis = marks.close / bars.close - 1
    assert 0.00005 < float(np.std(basis)) < 0.001 and float(np.abs(basis).max()) < 0.005
    assert float(np.mean(marks.high - marks.low)) < float(np.mean(bars.high - bars.low))
    assert bool(np.all(marks.high >= np.maximum(marks.open, marks.close)))
    assert bool(np.all(marks.low <= np.minimum(marks.open, marks.close)))
    both = synthetic_mark_bars(market, market.bars.values())
    assert set(both.series) == {"BTCUSDT", "ETHUSDT"} and both.source == "synthetic"


def test_a_written_synthetic_mark_reads_back_as_the_same_bars(tmp_path: Path) -> None:
    market = generate_market(["BTCUSDT"], 600, MarketConfig(seed=5))
    bars = market.bars["BTCUSDT"]
    spec = market.specs["BTCUSDT"]
    bar_file = tmp_path / "BTCUSDT-1m-2024-01-01_2024-01-01.csv"
    write_klines_csv(bars, bar_file, tick_size=spec.tick_size, step_size=spec.step_size)
    marks = synthetic_marks(market, "BTCUSDT", bars)
    mark_file = tmp_path / mark_dump_name(bar_file.name)
    assert mark_file.name == "BTCUSDT-markPriceKlines-1m-2024-01-01_2024-01-01.csv"
    write_klines_csv(marks, mark_file, tick_size=spec.tick_size, step_size=spec.step_size)
    read = find_marks(bar_file)["BTCUSDT"]
    assert np.array_equal(read.close, marks.close) and np.array_equal(read.low, marks.low)
