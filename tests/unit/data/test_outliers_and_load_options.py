"""Price outliers are flagged (not refused), Binance intervals only where an option names
one, and ``load_options`` lets a command line repair and name files it cannot pass down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.data import BINANCE_INTERVALS, binance_interval, load_all, load_options
from quantum_trader.data.bars import BarSeries, DataError
from quantum_trader.data.binance import load_klines, scan
from quantum_trader.data.quality import OUTLIER_FACTOR, RawKlines, check_bars
from quantum_trader.data.writers import write_klines_csv
from tests.conftest import shared_data

ROW = "{t},100.0,101.0,99.0,100.5,3.0,{c},0,0,0,0,0"


def _raw(close: list[float]) -> RawKlines:
    c = np.array(close)
    series = BarSeries("BTCUSDT", "1m", np.arange(len(c)) * 60_000, c, c * 1.001, c * 0.999, c, c)
    n = len(c)
    return RawKlines(series, ("f.csv",), np.zeros(n, np.int32), np.arange(1, n + 1))


@pytest.mark.parametrize("where", [0, 5, 11])
@pytest.mark.parametrize("factor", [1000.0, 1 / 1000])
def test_a_price_a_thousand_times_off_its_neighbours_is_flagged(where: int, factor: float) -> None:
    close = [100.0 + i % 3 for i in range(12)]
    close[where] *= factor
    report = check_bars(_raw(close))
    assert report.outliers == 1 and not report.fatal
    warning = report.warning()
    assert warning is not None and f"f.csv: row {where + 1}: price" in warning
    assert ("× the closes around it" if factor > 1 else " is 1/") in warning
    assert report.error() is None  # a suspect price does not stop a load


def test_two_bad_prints_in_a_row_are_both_flagged_and_real_moves_are_not() -> None:
    close = [100.0] * 30
    close[12] = close[13] = close[14] = 100_000.0
    assert check_bars(_raw(close)).outliers == 3
    crash = [100.0, 99.0, 90.0, 60.0, 30.0, 10.0, 8.0, 9.0, 12.0, 20.0]  # -92 % in steps
    assert check_bars(_raw(crash)).outliers == 0
    assert check_bars(_raw([100.0, 100.0 / OUTLIER_FACTOR * 1.5, 100.0, 100.0])).outliers == 0


def test_no_real_dump_has_outliers() -> None:
    for raw in scan(shared_data("klines")):
        assert check_bars(raw).outliers == 0, raw.series.symbol


def test_binance_intervals_only() -> None:
    assert binance_interval("15m") == "15m"
    for bad in ("7m", "2d", "1s", "1M", "60m"):
        with pytest.raises(DataError, match=r"not a Binance kline interval.*1m, 3m, 5m"):
            binance_interval(bad)
    assert BINANCE_INTERVALS[0] == "1m" and BINANCE_INTERVALS[-1] == "1w"


def _file(tmp_path: Path, minutes: list[int], name: str) -> Path:
    path = tmp_path / name
    rows = [ROW.format(t=m * 60_000, c=m * 60_000 + 59_999) for m in minutes]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_load_options_repair_and_name_a_file_for_loads_that_cannot_say(tmp_path: Path) -> None:
    path = _file(tmp_path, [0, 2, 1, 1, 5], "export.csv")
    with pytest.raises(DataError, match=r"cannot tell symbol/interval.*symbol= and interval="):
        load_all(path)
    with load_options(symbol="ETHUSDT", interval="1m") as loaded:
        with pytest.raises(DataError, match="rerun with --repair"):
            load_all(path)
        assert loaded == []
    with load_options(repair=True, symbol="ETHUSDT", interval="1m") as loaded:
        (result,) = load_all(path)
    assert result.series.symbol == "ETHUSDT" and len(result.series) == 6
    assert loaded == [result]
    assert result.repair.describe() == (
        "reordered, dropped 1 exact duplicates, filled 1 gaps with 2 flat bars"
    )
    with pytest.raises(DataError, match="cannot tell symbol/interval"):
        load_all(path)  # the options end with the block


def test_load_options_do_not_apply_to_directories_or_explicit_arguments(tmp_path: Path) -> None:
    named = _file(tmp_path, [0, 1, 2], "BTCUSDT-1m-2024-01-01.csv")
    with load_options(symbol="ETHUSDT", interval="5m") as loaded:
        (from_dir,) = load_all(tmp_path)
        explicit = load_klines(named, symbol="SOLUSDT", interval="1m")
    assert from_dir.series.symbol == "BTCUSDT" and explicit.symbol == "SOLUSDT"
    assert len(loaded) == 2
    assert from_dir.repair.describe() == "nothing to repair"


def test_a_repaired_file_round_trips(tmp_path: Path) -> None:
    path = _file(tmp_path, [0, 1, 3], "BTCUSDT-1m-2024-01-01.csv")
    (result,) = load_all(path, repair=True)
    out = write_klines_csv(result.series, tmp_path / "fixed.csv")
    again = load_klines(out, symbol="BTCUSDT", interval="1m")
    assert again.equals(result.series)
