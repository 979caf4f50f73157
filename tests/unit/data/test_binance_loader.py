"""Loading Binance kline dumps: every real file, both dump generations, zip, µs, Parquet."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.data.bars import DataError
from quantum_trader.data.binance import (
    DumpName,
    load_all,
    load_klines,
    load_klines_dir,
    parse_dump_name,
    scan,
)
from quantum_trader.data.writers import dump_name, write_klines_csv, write_parquet
from tests.unit.data.samples import make_series, real_file

HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)
ROWS = (
    "1704067200000,42283.58,42298.62,42261.02,42298.61,35.92724,1704067259999,0,0,0,0,0\n"
    "1704067260000,42298.62,42320.0,42298.61,42320.0,21.07084,1704067319999,0,0,0,0,0\n"
    "1704067320000,42320.0,42331.54,42310.0,42310.0,18.9,1704067379999,0,0,0,0,0\n"
)

REAL = [
    ("XRPUSDT-5m-2021-11-15_2021-11-21.csv", "XRPUSDT", "5m", 1999),
    ("XRPUSDT-8h-2021-11-18_2021-12-18.csv", "XRPUSDT", "8h", 91),
    ("XRPUSDT-1h-2021-11-17_2021-11-21.csv", "XRPUSDT", "1h", 100),
    ("XRPUSDT-markPriceKlines-1h-2021-11-15_2021-11-19.csv", "XRPUSDT", "1h", 100),
    ("spot/ETHBTC-5m-2018-01-10_2018-01-30.csv", "ETHBTC", "5m", 5760),
]
GAPPY = [
    ("spot/UNITTESTBTC-1m-2017-11-04_2017-11-14.csv", 13_681, 538, 717),
    ("spot/XRPETH-1m-2019-10-11_2019-10-13.csv", 2_469, 676, 1_091),
    ("spot/XRPETH-5m-2019-10-11_2019-10-13.csv", 706, 6, 6),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTCUSDT-1m-2024-01.zip", DumpName("BTCUSDT", "1m")),
        ("BTCUSDT-1m-2024-01-15.zip", DumpName("BTCUSDT", "1m")),
        ("XRPUSDT-5m-2021-11-15_2021-11-21.csv", DumpName("XRPUSDT", "5m")),
        ("XRPUSDT-markPriceKlines-1h-2021-11.csv", DumpName("XRPUSDT", "1h", "markPriceKlines")),
        ("1000PEPEUSDT-4h.parquet", DumpName("1000PEPEUSDT", "4h")),
        ("prices.csv", None),
        ("XRPUSDT-fundingRate-2021-11.csv", None),
    ],
)
def test_dump_names_give_symbol_and_interval(name: str, expected: DumpName | None) -> None:
    assert parse_dump_name(name) == expected


@pytest.mark.parametrize(("name", "symbol", "interval", "rows"), REAL)
def test_every_contiguous_real_file_loads_clean(
    name: str, symbol: str, interval: str, rows: int
) -> None:
    series = load_klines(real_file(name))
    assert (series.symbol, series.interval, len(series)) == (symbol, interval, rows)
    assert np.all(np.diff(series.open_time) == series.interval_ms)
    assert np.all(series.high >= series.low)


def test_real_xrpusdt_5m_prices_are_on_binance_tick() -> None:
    series = load_klines(real_file("XRPUSDT-5m-2021-11-15_2021-11-21.csv"))
    assert series.open_time[0] == 1_636_934_400_000
    first = series.bar_at(0, Decimal("0.0001"), Decimal("0.1"))
    assert (first.open, first.high, first.close) == (
        Decimal("1.1893"),
        Decimal("1.1954"),
        Decimal("1.1941"),
    )
    assert first.volume == Decimal("9289043.5")
    assert series.low.min() == 1.0145 and series.high.max() == 1.2214


@pytest.mark.parametrize(("name", "rows", "gaps", "missing"), GAPPY)
def test_gaps_in_real_spot_files_are_detected_and_repaired(
    name: str, rows: int, gaps: int, missing: int
) -> None:
    path = real_file(name)
    with pytest.raises(DataError, match=r"row \d+: .*missing before .*repair=True"):
        load_klines(path)
    assert len(load_klines(path, allow_gaps=True)) == rows
    (result,) = load_all(path, repair=True)
    assert (result.quality.gaps, result.quality.missing_bars) == (gaps, missing)
    assert result.repair.bars_inserted == missing and result.repair.gaps_filled == gaps
    series = result.series
    assert len(series) == rows + missing
    assert np.all(np.diff(series.open_time) == series.interval_ms)
    filled = series.volume == 0
    assert np.all(series.open[filled] == series.close[np.flatnonzero(filled) - 1])
    assert np.all(series.high[filled] == series.low[filled])


def test_real_directory_groups_per_symbol_and_interval(real_dir: Path) -> None:
    found = load_klines_dir(real_dir, allow_gaps=True)
    assert set(found) == {
        ("XRPUSDT", "5m"),
        ("XRPUSDT", "8h"),
        ("XRPUSDT", "1h"),
        ("ETHBTC", "5m"),
        ("UNITTESTBTC", "1m"),
        ("XRPETH", "1m"),
        ("XRPETH", "5m"),
    }
    assert len(found[("XRPUSDT", "1h")]) == 100  # the trade candles, not the mark-price ones
    marks = load_klines_dir(real_dir, kind="markPriceKlines")
    assert list(marks) == [("XRPUSDT", "1h")]
    assert marks[("XRPUSDT", "1h")].close[0] == 1.21431


def test_header_and_headerless_dumps_load_the_same(tmp_path: Path) -> None:
    old = tmp_path / "old" / "BTCUSDT-1m-2024-01-01.csv"
    new = tmp_path / "new" / "BTCUSDT-1m-2024-01-01.csv"
    old.parent.mkdir()
    new.parent.mkdir()
    old.write_text(ROWS)
    new.write_text(HEADER + ROWS)
    a, b = load_klines(old), load_klines(new)
    assert a.equals(b) and len(a) == 3
    assert a.close[1] == 42320.0


def test_microsecond_timestamps_are_converted_to_ms(tmp_path: Path) -> None:
    micro = "".join(
        f"{int(r.split(',')[0]) * 1000},{','.join(r.split(',')[1:6])},0,0,0,0,0,0\n"
        for r in ROWS.splitlines()
    )
    path = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    path.write_text(HEADER + micro)
    assert list(load_klines(path).open_time) == [1704067200000, 1704067260000, 1704067320000]


def test_zip_dump_loads_like_its_csv(tmp_path: Path) -> None:
    csv = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    csv.write_text(ROWS)
    archive = tmp_path / "BTCUSDT-1m-2024-01-01.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(csv, csv.name)
    assert load_klines(archive).equals(load_klines(csv))


def test_directory_of_daily_dumps_is_concatenated_in_time_order(tmp_path: Path) -> None:
    series = make_series([float(x) for x in range(10, 40)], symbol="ETHUSDT")
    for lo, hi, day in ((20, 30, "03"), (0, 10, "01"), (10, 20, "02")):  # written out of order
        write_klines_csv(series.slice(lo, hi), tmp_path / f"ETHUSDT-1m-2024-01-{day}.csv")
    loaded = load_klines(tmp_path)
    assert loaded.equals(series)


def test_parquet_round_trip_keeps_every_bit(tmp_path: Path) -> None:
    series = make_series([1.1, 2.2, 3.3000000000000003], symbol="SOLUSDT")
    path = write_parquet(series, tmp_path / "anything.parquet")
    assert load_klines(path).equals(series)
    renamed = path.rename(tmp_path / dump_name(series, ".parquet"))
    assert load_klines(renamed).equals(series)


def test_parquet_symbol_from_columns(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "open_time": pa.array([0, 60_000], pa.timestamp("ms")),
            "open": [1.0, 2.0],
            "high": [2.0, 3.0],
            "low": [0.5, 1.5],
            "close": [2.0, 2.5],
            "volume": [1.0, 1.0],
            "symbol": ["ADAUSDT"] * 2,
            "interval": ["1m"] * 2,
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    series = load_klines(tmp_path / "x.parquet")
    assert (series.symbol, series.interval, list(series.open_time)) == (
        "ADAUSDT",
        "1m",
        [0, 60_000],
    )


def test_synthetic_csv_round_trip_is_exact(tmp_path: Path) -> None:
    from quantum_trader.data.symbols import DEFAULT_SYMBOLS
    from quantum_trader.data.synthetic import generate_bars

    spec = DEFAULT_SYMBOLS["DOGEUSDT"]
    bars = generate_bars("DOGEUSDT", 3_000)
    path = write_klines_csv(
        bars, tmp_path / dump_name(bars), tick_size=spec.tick_size, step_size=spec.step_size
    )
    assert path.name == "DOGEUSDT-1m-2024-01-01_2024-01-03.csv"
    assert load_klines(path).equals(bars)
    assert "e" not in path.read_text().lower()  # plain decimals, no exponents


def test_scan_does_not_check(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    path.write_text(ROWS + ROWS)
    (raw,) = scan(path)
    assert len(raw.series) == 6
