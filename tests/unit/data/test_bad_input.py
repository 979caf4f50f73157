"""Every class of bad kline input ends in a DataError naming file, row, problem and fix."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantum_trader.data.bars import DataError
from quantum_trader.data.binance import load_all, load_klines, load_klines_dir

ROW = "{t},100.0,101.0,99.0,100.5,3.0,{c},0,0,0,0,0"


def _rows(times: list[int], **override: str) -> list[str]:
    rows = [ROW.format(t=t * 60_000, c=t * 60_000 + 59_999) for t in times]
    for index, row in override.items():
        rows[int(index.removeprefix("r"))] = row
    return rows


def _write(tmp_path: Path, lines: list[str], name: str = "BTCUSDT-1m-2024-01-01.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "file is empty"),
        (["time,o,h,l,c,v", "0,1,1,1,1,1"], "row 1: unexpected header"),
        (["0,1,1,1"], "row 1: 4 columns"),
        (
            _rows([0, 1, 2], r1="60000,100.0,abc,99.0,100.5,3.0,119999,0,0,0,0,0"),
            "row 2: column high: 'abc' is not a number",
        ),
        (_rows([0, 1], r1="60000,100.0,101.0,99.0"), "row 2: 4 columns"),
        (
            _rows([0, 1], r1="6e4,100.0,101.0,99.0,100.5,3.0,119999,0,0,0,0,0"),
            "row 2: column open_time: '6e4' is not a integer timestamp",
        ),
        (
            _rows([0, 1, 2], r2="120000,100.0,nan,99.0,100.5,3.0,179999,0,0,0,0,0"),
            "row 3: a price or volume is NaN or infinite",
        ),
        (
            _rows([0, 1, 2], r1="60000,100.0,99.5,99.0,100.5,3.0,119999,0,0,0,0,0"),
            "row 2: OHLC is inconsistent",
        ),
        (
            _rows([0, 1], r1="60000,100.0,101.0,99.0,100.5,-3.0,119999,0,0,0,0,0"),
            "row 2: OHLC is inconsistent",
        ),
        (
            _rows([0, 1], r1="60000,-1,101.0,-2,100.5,3.0,119999,0,0,0,0,0"),
            "row 2: OHLC is inconsistent",
        ),
        (
            _rows([0, 1], r1="61000,100.0,101.0,99.0,100.5,3.0,120999,0,0,0,0,0"),
            "row 2: open time is not on a 1m boundary",
        ),
        (_rows([0, 2, 1, 3]), "row 3: bar is older than the one before it.*repair=True"),
        (_rows([0, 1, 1, 2]), "row 3: exact duplicate of an earlier bar.*repair=True"),
        (_rows([0, 1, 3]), "row 3: 1 1m bar\\(s\\) missing .*repair=True"),
    ],
)
def test_bad_rows_raise_with_file_row_and_fix(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path, lines)
    with pytest.raises(DataError, match=message) as info:
        load_klines(path)
    assert str(path) in str(info.value)
    assert "Fix:" in str(info.value)


def test_conflicting_duplicates_are_fatal_even_with_repair(tmp_path: Path) -> None:
    lines = _rows([0, 1, 2], r2="60000,100.0,102.0,99.0,100.5,3.0,119999,0,0,0,0,0")
    path = _write(tmp_path, lines)
    for repair in (False, True):
        with pytest.raises(DataError, match="row 3: two bars with the same open time"):
            load_klines(path, repair=repair)


def test_broken_ohlc_is_not_repaired(tmp_path: Path) -> None:
    path = _write(tmp_path, _rows([0, 1], r1="60000,100.0,99.5,99.0,100.5,3.0,119999,0,0,0,0,0"))
    with pytest.raises(DataError, match="repair cannot invent a price"):
        load_klines(path, repair=True)


def test_repair_sorts_drops_exact_duplicates_and_fills_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path, _rows([0, 3, 1, 1, 5]))
    (result,) = load_all(path, repair=True)
    report = result.repair
    assert report.reordered and report.duplicates_dropped == 1
    assert report.gaps_filled == 2 and report.bars_inserted == 2
    series = result.series
    assert list(series.open_time // 60_000) == [0, 1, 2, 3, 4, 5]
    assert list(series.volume) == [3.0, 3.0, 0.0, 3.0, 0.0, 3.0]
    assert series.open[2] == series.close[1] == series.high[2] == series.low[2]


def test_files_that_are_not_dumps_are_explained(tmp_path: Path) -> None:
    unnamed = _write(tmp_path, _rows([0]), name="prices.csv")
    with pytest.raises(DataError, match=r"cannot tell symbol/interval.*rename it like"):
        load_klines(unnamed)
    assert len(load_klines(unnamed, symbol="BTCUSDT", interval="1m")) == 1
    with pytest.raises(DataError, match="no such file"):
        load_klines(tmp_path / "missing" / "BTCUSDT-1m.csv")
    bad_zip = tmp_path / "BTCUSDT-1m-2024-01.zip"
    bad_zip.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a valid zip file"):
        load_klines(bad_zip)
    empty_zip = tmp_path / "ETHUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("README.txt", "nothing")
    with pytest.raises(DataError, match=r"holds no \.csv file"):
        load_klines(empty_zip)


def test_directory_without_dumps_or_with_several_series(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no klines files found"):
        load_klines_dir(tmp_path)
    _write(tmp_path, _rows([0]), "BTCUSDT-1m-2024-01-01.csv")
    _write(tmp_path, _rows([0]), "ETHUSDT-1m-2024-01-01.csv")
    with pytest.raises(DataError, match=r"holds several series.*load_klines_dir"):
        load_klines(tmp_path)
    assert len(load_klines_dir(tmp_path)) == 2


def test_parquet_problems_are_explained(tmp_path: Path) -> None:
    pq.write_table(pa.table({"open_time": [0], "open": [1.0]}), tmp_path / "BTCUSDT-1m.parquet")
    with pytest.raises(DataError, match="missing column\\(s\\) high, low, close, volume"):
        load_klines(tmp_path / "BTCUSDT-1m.parquet")
    cols = {c: np.ones(1) for c in ("open", "high", "low", "close", "volume")}
    pq.write_table(pa.table({"open_time": [0], **cols}), tmp_path / "data.parquet")
    with pytest.raises(DataError, match="cannot tell symbol/interval"):
        load_klines(tmp_path / "data.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_klines(tmp_path / "junk.parquet")
