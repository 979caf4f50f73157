"""The download's waits, on a clock that never waits: the REST API read in pages, a 429
waited out as its Retry-After says, the next minute awaited near the request-weight
limit, an archive 429 honoured and a 418 ban ending the download; funding from REST when
the archive has no month of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import quantum_trader.data.rest as rest
from quantum_trader.backtest.runner import BacktestRequest, load_bars
from quantum_trader.data import BarSeries, generate_market, load_klines
from quantum_trader.data.archive import day_ms
from quantum_trader.data.download import download
from quantum_trader.data.download_report import DownloadFailed, DownloadRequest
from quantum_trader.data.funding import find_funding
from quantum_trader.data.marks import find_marks, synthetic_marks
from quantum_trader.data.synthetic import MarketConfig
from tests.integration.download.archive import ArchiveServer, JumpClock, build_archive, sim_rest

DAY = date(2024, 2, 2)
NEXT = date(2024, 2, 3)


@pytest.fixture
async def empty_archive(tmp_path: Path) -> AsyncIterator[ArchiveServer]:
    server = ArchiveServer(tmp_path / "nothing")
    await server.start()
    yield server
    await server.stop()


def one_day_of_minutes() -> BarSeries:
    market = generate_market(["BTCUSDT"], 1440, MarketConfig(seed=9, start_ms=day_ms(DAY)))
    return market.bars["BTCUSDT"]


def request(out: Path, archive: str, rest_url: str, **extra: object) -> DownloadRequest:
    fields: dict[str, object] = {"kinds": ("klines",), "rest_url": rest_url} | extra
    return DownloadRequest(("BTCUSDT",), "1m", DAY, NEXT, out, archive_url=archive, **fields)  # type: ignore[arg-type]


async def test_a_429_from_rest_is_waited_out_for_its_retry_after(
    tmp_path: Path, empty_archive: ArchiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest, "KLINES_LIMIT", 500)  # 1,440 bars in three pages
    clock = JumpClock(day_ms(date(2024, 6, 1)) + 20_000)
    bars = one_day_of_minutes()
    venue = await sim_rest([bars], weight_limit=9, weight_clock=clock)  # two pages a minute
    try:
        report = await download(request(tmp_path, empty_archive.url, venue.url), clock=clock)
    finally:
        await venue.stop()
    assert report.count("rest") == 1
    assert report.stats.rate_limited == 2 and report.stats.weight_pauses == 0
    assert clock.waits == [40.0, 60.0]  # the venue's Retry-After: the rest of its minute
    pages = [r for r in venue.requests if r["path"] == "/fapi/v1/klines"]
    assert [int(r["params"]["limit"]) for r in pages] == [500] * 5  # two refused, retried
    got = load_klines(tmp_path / "BTCUSDT" / "BTCUSDT-1m-2024-02-02.zip")
    np.testing.assert_array_equal(got.open_time, bars.open_time)
    np.testing.assert_allclose(got.close, bars.close, atol=0.1, rtol=0)


async def test_near_the_weight_limit_the_next_request_waits_for_the_next_minute(
    tmp_path: Path, empty_archive: ArchiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest, "KLINES_LIMIT", 500)
    clock = JumpClock(day_ms(date(2024, 6, 1)) + 20_000)
    venue = await sim_rest([one_day_of_minutes()], weight_clock=clock)
    try:  # the venue allows 2,400 a minute; told 12, the download keeps under 80 % of it
        report = await download(
            request(tmp_path, empty_archive.url, venue.url, weight_limit=12), clock=clock
        )
    finally:
        await venue.stop()
    assert report.count("rest") == 1
    assert report.stats.weight_pauses == 1 and report.stats.rate_limited == 0
    assert clock.waits == [40.5]  # to just after the minute turned
    assert clock.now_ms() % 60_000 == 500


async def test_an_archive_429_is_honoured_and_a_418_ban_stops_the_download(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    build_archive(root, ["BTCUSDT"], "1h", date(2024, 1, 1), date(2024, 2, 1))
    name = "BTCUSDT-1h-2024-01.zip"
    server = ArchiveServer(root, limited={name: (1, 429, "7")})
    await server.start()
    try:
        clock = JumpClock(day_ms(date(2024, 6, 1)))
        wanted = DownloadRequest(
            ("BTCUSDT",), "1h", date(2024, 1, 1), date(2024, 2, 1), tmp_path / "a",
            archive_url=server.url, rest_url=None,
        )  # fmt: skip
        report = await download(wanted, clock=clock)
        assert report.count("archive") == 2 and report.stats.rate_limited == 1
        assert clock.waits == [7.0]

        server.limited = {name: (1, 418, "7200")}
        banned = DownloadRequest(
            ("BTCUSDT",), "1h", date(2024, 1, 1), date(2024, 2, 1), tmp_path / "b",
            archive_url=server.url, rest_url=None,
        )  # fmt: skip
        with pytest.raises(DownloadFailed, match="HTTP 418, asked to wait 7200 s"):
            await download(banned, clock=clock)
    finally:
        await server.stop()


async def test_funding_the_archive_lacks_comes_from_rest(
    tmp_path: Path, empty_archive: ArchiveServer
) -> None:
    clock = JumpClock(day_ms(date(2024, 6, 1)))
    venue = await sim_rest([one_day_of_minutes()], weight_clock=clock)
    try:
        report = await download(
            request(tmp_path, empty_archive.url, venue.url, kinds=("klines", "fundingRate")),
            clock=clock,
        )
    finally:
        await venue.stop()
    assert report.count("rest") == 2
    path = tmp_path / "BTCUSDT" / "BTCUSDT-fundingRate-2024-02-02_2024-02-02.zip"
    assert path.is_file()
    funding = find_funding(tmp_path)["BTCUSDT"]
    assert len(funding) >= 2 and funding.interval_hours == 8
    assert all(day_ms(DAY) <= t < day_ms(NEXT) for t in funding.funding_time.tolist())


async def test_mark_price_klines_the_archive_lacks_come_from_rest_and_are_walked(
    tmp_path: Path, empty_archive: ArchiveServer
) -> None:
    """markPriceKlines from /fapi/v1/markPriceKlines land where the loaders find them,
    and are the mark a backtest of the downloaded bars walks."""
    market = generate_market(["BTCUSDT"], 1440, MarketConfig(seed=9, start_ms=day_ms(DAY)))
    bars = market.bars["BTCUSDT"]
    marks = synthetic_marks(market, "BTCUSDT", bars)
    clock = JumpClock(day_ms(date(2024, 6, 1)))
    venue = await sim_rest([bars], weight_clock=clock, marks={"BTCUSDT": marks})
    try:
        report = await download(
            request(tmp_path, empty_archive.url, venue.url, kinds=("klines", "markPriceKlines")),
            clock=clock,
        )
    finally:
        await venue.stop()
    assert report.count("rest") == 2
    path = tmp_path / "BTCUSDT" / "BTCUSDT-markPriceKlines-1m-2024-02-02.zip"
    assert path.is_file()
    found = find_marks(tmp_path)["BTCUSDT"]
    assert np.array_equal(found.open_time, bars.open_time)
    assert np.array_equal(found.close, marks.close) and np.array_equal(found.high, marks.high)
    loaded = load_bars(BacktestRequest(strategy="trend_ema", data=tmp_path))
    assert loaded.marks.source == "files: 1 symbols"
