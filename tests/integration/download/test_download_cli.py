"""``quantum data download`` end to end through the real command line, against a local
archive server (and the simulated exchange's REST front for what the archive lacks):
the files it writes are what ``quantum backtest --data`` reads; a corrupted file is
fetched again; an interrupted download resumes with only the rest; a gap in the archive
is filled from REST; bad input is one line. Time is a ``JumpClock``: nothing waits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import quantum_trader.cli.download as download_cli
from quantum_trader import cli
from quantum_trader.data import load_klines_dir
from quantum_trader.data.archive import day_ms, sha256_of, verified
from quantum_trader.data.funding import find_funding
from tests.integration.download.archive import (
    ArchiveServer,
    Background,
    JumpClock,
    Market,
    build_archive,
    sim_rest,
)
from tests.integration.test_cli_errors import one_line_error

runner = CliRunner()
TODAY = date(2024, 6, 1)
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
RANGE = ("--start", "2024-01-01", "--end", "2024-02-04")  # January whole, 3 days of February
PLANNED = 12  # per symbol: January, 3 days, funding for January and February


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QUANTUM_REDIS_URL", "TRADING_SYMBOLS", "QUANTUM_TRADING_SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> JumpClock:
    jump = JumpClock(day_ms(TODAY) + 3_600_000)
    monkeypatch.setattr(download_cli, "CLOCK", lambda: jump)
    return jump


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Market]:
    root = tmp_path_factory.mktemp("archive")
    return root, build_archive(root, SYMBOLS, "1h", date(2024, 1, 1), date(2024, 2, 5))


@pytest.fixture
def background() -> Iterator[Background]:
    loop = Background()
    yield loop
    loop.close()


@pytest.fixture
def serve(
    background: Background, published: tuple[Path, Market]
) -> Iterator[Callable[..., ArchiveServer]]:
    servers: list[ArchiveServer] = []

    def start(**misbehaviour: Any) -> ArchiveServer:
        server = ArchiveServer(published[0], **misbehaviour)
        background.run(server.start())
        servers.append(server)
        return server

    yield start
    for server in servers:
        background.run(server.stop())


def download(out: Path, archive: str, *extra: str, rest: str | None = None) -> Result:
    args = ["data", "download", "--symbols", ",".join(SYMBOLS), "--interval", "1h", *RANGE,
            "--out", str(out), "--archive-url", archive, "--json"]  # fmt: skip
    args += ["--rest-url", rest] if rest else ["--no-rest"]
    return runner.invoke(cli.app, [*args, *extra])


def summary(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def same_bars(out: Path, market: Market, atol: float = 1e-9) -> None:
    loaded = load_klines_dir(out)
    assert sorted(loaded) == [(s, "1h") for s in sorted(SYMBOLS)]
    for symbol in SYMBOLS:
        got = loaded[(symbol, "1h")]
        want = market.bars[symbol].between(day_ms(date(2024, 1, 1)), day_ms(date(2024, 2, 4)))
        np.testing.assert_array_equal(got.open_time, want.open_time)
        np.testing.assert_allclose(got.close, want.close, rtol=0, atol=atol)


def test_a_full_download_is_what_backtest_reads_and_a_second_run_asks_for_nothing(
    tmp_path: Path, clock: JumpClock, serve: Callable[..., ArchiveServer], published: Any
) -> None:
    server = serve()
    out = tmp_path / "market"
    result = download(out, server.url)
    assert result.exit_code == 0, result.output
    doc = summary(result)
    assert (doc["files_fetched"], doc["files_skipped"], doc["files_failed"]) == (PLANNED, 0, 0)
    assert doc["start"] == "2024-01-01T00:00:00Z" and doc["end"] == "2024-02-04T00:00:00Z"
    assert doc["bytes"] > 0 and doc["started_at"].endswith("Z")
    assert (out / "BTCUSDT" / "BTCUSDT-1h-2024-01.zip").is_file()
    assert (out / "ETHUSDT" / "ETHUSDT-1h-2024-02-03.zip.CHECKSUM").is_file()
    assert not list(out.rglob("*.part"))
    same_bars(out, published[1])
    assert set(find_funding(out)) == set(SYMBOLS)

    report = tmp_path / "backtest.json"
    backtest = runner.invoke(
        cli.app, ["backtest", "--data", str(out), "--strategy", "breakout", "--json", str(report)]
    )
    assert backtest.exit_code == 0, backtest.output
    assert json.loads(report.read_text())["summary"]["funding_source"] == "files: 2 symbols"

    asked = len(server.requests)
    again = download(out, server.url)
    assert again.exit_code == 0, again.output
    doc = summary(again)
    assert (doc["files_fetched"], doc["files_skipped"], doc["bytes"]) == (0, PLANNED, 0)
    assert len(server.requests) == asked  # verified locally, nothing asked


def test_a_checksum_mismatch_is_detected_deleted_and_fetched_again(
    tmp_path: Path, clock: JumpClock, serve: Callable[..., ArchiveServer], published: Any
) -> None:
    name = "BTCUSDT-1h-2024-01.zip"
    server = serve(corrupt={name: 1})
    result = download(tmp_path, server.url)
    assert result.exit_code == 0, result.output
    doc = summary(result)
    assert doc["checksum_mismatches"] == 1 and doc["files_fetched"] == PLANNED
    assert server.zip_requests().count(name) == 2
    archived = published[0] / "data/futures/um/monthly/klines/BTCUSDT/1h" / name
    assert sha256_of(tmp_path / "BTCUSDT" / name) == sha256_of(archived)


def test_a_file_that_never_matches_its_checksum_fails_in_one_line(
    tmp_path: Path, clock: JumpClock, serve: Callable[..., ArchiveServer]
) -> None:
    name = "ETHUSDT-1h-2024-02-02.zip"
    server = serve(corrupt={name: 100})
    result = download(tmp_path, server.url)
    one_line_error(result, 1, "1 file(s) failed", "ETHUSDT", "sha256", "does not match")
    doc = summary(result)
    assert doc["files_fetched"] == PLANNED - 1 and doc["checksum_mismatches"] == 5
    assert [f["period"] for f in doc["failed"]] == ["2024-02-02"]
    assert not (tmp_path / "ETHUSDT" / name).exists()
    assert not list(tmp_path.rglob("*.part"))


def test_an_interrupted_download_resumes_with_only_what_is_missing(
    tmp_path: Path, clock: JumpClock, serve: Callable[..., ArchiveServer]
) -> None:
    first = serve(drop_after=5)  # the sixth file stops half way and the server is gone
    result = download(tmp_path, first.url, "--jobs", "1")
    one_line_error(result, 1, "--archive-url", first.url, "no answer", "run the same command")
    assert 8.0 in clock.waits and set(clock.waits) <= {1.0, 2.0, 4.0, 8.0}  # backoff, no wait
    done = [p for p in tmp_path.rglob("*.zip") if verified(p)]
    assert len(done) == 5 == len(list(tmp_path.rglob("*.zip")))
    assert not list(tmp_path.rglob("*.part"))

    second = serve()
    result = download(tmp_path, second.url, "--jobs", "1")
    assert result.exit_code == 0, result.output
    doc = summary(result)
    assert (doc["files_skipped"], doc["files_fetched"]) == (5, PLANNED - 5)
    assert sorted(second.zip_requests()) == sorted(
        {Path(f["path"]).name for f in doc["files"]} - {p.name for p in done}
    )


def test_a_gap_in_the_archive_is_filled_from_rest(
    tmp_path: Path,
    clock: JumpClock,
    serve: Callable[..., ArchiveServer],
    background: Background,
    published: tuple[Path, Market],
) -> None:
    market = published[1]
    gap = market.bars["BTCUSDT"].between(day_ms(date(2024, 2, 2)), day_ms(date(2024, 2, 3)))
    venue = background.run(sim_rest([gap]))
    # BTCUSDT lacks a day; ETHUSDT's January is not published as a month, only as days
    server = serve(missing={"BTCUSDT-1h-2024-02-02.zip", "ETHUSDT-1h-2024-01.zip"})
    try:
        result = download(tmp_path, server.url, rest=venue.url)
        assert result.exit_code == 0, result.output
        doc = summary(result)
        assert doc["files_from_rest"] == 1 and doc["files_missing"] == 0
        assert doc["files_fetched"] == PLANNED - 2 + 31  # ETHUSDT's January day by day
        rest_day = [f for f in doc["files"] if f["source"] == "rest"]
        assert [(f["symbol"], f["period"]) for f in rest_day] == [("BTCUSDT", "2024-02-02")]
        assert Path(rest_day[0]["path"]).name == "BTCUSDT-1h-2024-02-02.zip"
        same_bars(tmp_path, market, atol=0.1)  # the venue rounds to its own tick

        again = download(tmp_path, serve().url, rest=venue.url)  # now the archive is whole
        assert again.exit_code == 0, again.output
        doc = summary(again)
        assert (doc["files_fetched"], doc["files_from_rest"]) == (0, 0)
        assert doc["files_skipped"] == PLANNED - 1 + 31
    finally:
        background.run(venue.stop())


def test_a_symbol_binance_does_not_list_is_one_line(
    tmp_path: Path,
    clock: JumpClock,
    serve: Callable[..., ArchiveServer],
    background: Background,
    published: tuple[Path, Market],
) -> None:
    venue = background.run(sim_rest([published[1].bars["BTCUSDT"].slice(0, 24)]))
    server = serve()
    try:
        args = ["data", "download", "--symbols", "FOOBARUSDT", "--interval", "1h",
                "--start", "2024-02-01", "--end", "2024-02-03", "--out", str(tmp_path),
                "--archive-url", server.url, "--rest-url", venue.url]  # fmt: skip
        result = runner.invoke(cli.app, args)
        one_line_error(result, 2, "--symbols FOOBARUSDT", "not a Binance", "Invalid symbol")
    finally:
        background.run(venue.stop())


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"--symbols": "BTC-USD"}, ("--symbols", "BTC-USD", "ending in USDT")),
        ({"--symbols": "ETHBTC"}, ("--symbols", "ETHBTC")),
        ({"--symbols": " , "}, ("--symbols", "empty")),
        ({"--start": "2024-03-01", "--end": "2024-02-01"}, ("--end", "not after --start")),
        ({"--start": "2024-07-01"}, ("--start", "in the future", "2024-06-01")),
        ({"--start": "2024-06-01"}, ("--start", "today")),
        ({"--start": "last week"}, ("--start", "YYYY-MM-DD")),
        ({"--kinds": "klines,trades"}, ("--kinds", "trades")),
        ({"--interval": "7m"}, ("--interval", "7m")),
        ({"--archive-url": "ftp://example"}, ("--archive-url", "http")),
        ({"--jobs": "50"}, ("--jobs",)),
    ],
)
def test_bad_symbols_ranges_and_options_are_one_line(
    tmp_path: Path, clock: JumpClock, override: dict[str, str], words: tuple[str, ...]
) -> None:
    options = {"--symbols": "BTCUSDT", "--interval": "1h", "--start": "2024-01-01",
               "--end": "2024-02-01", "--out": str(tmp_path), "--kinds": "klines",
               "--archive-url": "http://127.0.0.1:9"} | override  # fmt: skip
    args = ["data", "download"] + [part for item in options.items() for part in item]
    one_line_error(runner.invoke(cli.app, args), 2, *words)
