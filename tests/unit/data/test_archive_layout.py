"""The archive's layout: which files a range needs, their URLs and local names (which the
loaders read as the right kind), the .CHECKSUM line, and REST rows in the archive's
file format."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from quantum_trader.data import generate_market, load_klines, write_klines_csv
from quantum_trader.data.archive import (
    Unit,
    checksum_line,
    parse_checksum,
    plan,
    rest_funding_name,
    sha256_of,
    verified,
)
from quantum_trader.data.bars import DataError
from quantum_trader.data.binance import parse_dump_name
from quantum_trader.data.funding import load_funding_rates
from quantum_trader.data.rest import KLINE_HEADER, funding_hours, funding_zip, kline_zip


def test_paths_follow_the_archive_and_local_names_the_loaders() -> None:
    month = Unit("klines", "BTCUSDT", "1m", date(2024, 1, 1), True)
    day = Unit("klines", "BTCUSDT", "1m", date(2024, 3, 5), False)
    mark = Unit("markPriceKlines", "BTCUSDT", "1m", date(2024, 1, 1), True)
    funding = Unit("fundingRate", "BTCUSDT", None, date(2024, 1, 1), True)
    assert month.archive_path == "data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip"
    assert day.archive_path == "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-05.zip"
    assert mark.archive_path == (
        "data/futures/um/monthly/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip"
    )
    assert funding.archive_path == (
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    )
    assert parse_dump_name(month.local_name).kind == "klines"  # type: ignore[union-attr]
    assert parse_dump_name(mark.local_name).kind == "markPriceKlines"  # type: ignore[union-attr]
    assert parse_dump_name(funding.local_name) is None  # not read as klines
    assert (month.last, len(month.days()), day.days() == [day]) == (date(2024, 1, 31), 31, True)
    assert (
        Unit("klines", "X", "1m", date(2024, 2, 1), True).end_ms - month.end_ms == 29 * 86_400_000
    )


def test_whole_months_are_monthly_files_and_the_rest_daily() -> None:
    units = plan(["BTCUSDT"], "1m", ("klines", "fundingRate"), date(2024, 1, 15), date(2024, 3, 3))
    klines = [u.label for u in units if u.kind == "klines"]
    assert klines == [f"2024-01-{d}" for d in range(15, 32)] + [
        "2024-02",
        "2024-03-01",
        "2024-03-02",
    ]
    assert [u.label for u in units if u.kind == "fundingRate"] == ["2024-01", "2024-02", "2024-03"]
    whole = plan(["A", "B"], "1h", ("klines",), date(2024, 1, 1), date(2024, 3, 1))
    assert [(u.symbol, u.label) for u in whole] == [
        ("A", "2024-01"), ("A", "2024-02"), ("B", "2024-01"), ("B", "2024-02"),
    ]  # fmt: skip
    with pytest.raises(DataError, match="not after"):
        plan(["A"], "1m", ("klines",), date(2024, 1, 2), date(2024, 1, 2))


def test_a_checksum_file_is_read_and_a_local_copy_verified(tmp_path: Path) -> None:
    digest = "ab" * 32
    assert parse_checksum(checksum_line(digest, "X.zip"), "X.zip") == digest
    with pytest.raises(DataError, match="not a sha256"):
        parse_checksum("<Error>NoSuchKey</Error>", "X.zip")
    path = tmp_path / "X.zip"
    path.write_bytes(b"zip bytes")
    assert not verified(path)  # no .CHECKSUM beside it
    (tmp_path / "X.zip.CHECKSUM").write_text(checksum_line(sha256_of(path), path.name))
    assert verified(path)
    path.write_bytes(b"zip bytes, changed")
    assert not verified(path)


def test_rest_rows_are_written_as_the_archive_writes_its_files(tmp_path: Path) -> None:
    rows = [
        [1706832000000 + i * 60_000, "43000.10", "43010.00", "42990.50", "43005.20", "12.345",
         1706832059999 + i * 60_000, "530000.1", 100, "6.1", "262000.0", "0"]
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "BTCUSDT-1m-2024-02-02.zip"
    path.write_bytes(kline_zip(rows, path.name))
    bars = load_klines(path)
    assert (bars.symbol, bars.interval, len(bars)) == ("BTCUSDT", "1m", 3)
    assert bars.close.tolist() == [43005.2] * 3
    assert kline_zip(rows, path.name) == path.read_bytes()  # same rows, same bytes

    rates = [{"fundingTime": 1706832000000 + i * 28_800_000, "fundingRate": "0.00010000"}
             for i in range(3)]  # fmt: skip
    name = rest_funding_name("BTCUSDT", date(2024, 2, 2), date(2024, 2, 2))
    funding = tmp_path / name
    funding.write_bytes(funding_zip(rates, name))
    loaded = load_funding_rates(funding)
    assert (loaded.symbol, len(loaded), loaded.interval_hours) == ("BTCUSDT", 3, 8)
    assert funding_hours([0, 3_600_000 * 4, 3_600_000 * 8]) == 4 and funding_hours([0]) == 8


def test_a_written_header_is_the_archives_unquoted_header(tmp_path: Path) -> None:
    bars = generate_market(["BTCUSDT"], 3).bars["BTCUSDT"]
    path = write_klines_csv(bars, tmp_path / "BTCUSDT-1m-2024-01.csv", header=True)
    assert path.read_text().splitlines()[0] == KLINE_HEADER
    assert load_klines(path).equals(load_klines(write_klines_csv(bars, tmp_path / "x.csv"),
                                                symbol="BTCUSDT", interval="1m"))  # fmt: skip
