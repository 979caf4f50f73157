"""``quantum sim-exchange serve``: bad options end in one line, never a traceback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.cli.sim_exchange import app, load_funding, load_series
from quantum_trader.data.funding import find_funding
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.exchange.sim.http.replay import replay
from tests.conftest import shared_data

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--speed", "0"], "--speed"),
        (["--faults", "bogus"], "--faults"),
        (["--data", "/nonexistent/klines"], "--data"),
        (["--api-key", "k"], "--api-key"),
        (["--port", "70000"], "--port"),
        (["--speed", "fast"], "--speed"),
    ],
)
def test_bad_options_fail_with_one_line(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_unreadable_data_file_is_a_bad_parameter(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT-1m-2024-01.csv"
    bad.write_text("not,a,kline\n")
    result = runner.invoke(app, ["serve", "--data", str(bad)])
    assert result.exit_code == 2 and "--data" in result.output


async def test_replay_feeds_recorded_bars_into_the_core() -> None:
    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    series = [s.slice(0, 50) for s in load_series(data, seed=0)[0]]
    server = SimHttpServer(SimExchange(MatchingCore(start_ms=int(series[0].open_time[0]))))

    async def no_wait(seconds: float) -> None:
        assert seconds == pytest.approx(300 / 60)

    assert await replay(server, series, speed=60, sleep=no_wait) == 50
    assert server.core.last_price("XRPUSDT") > 0
    assert len(server.core.klines("XRPUSDT", "5m", 100)) == 50


async def test_the_venue_settles_the_recorded_funding_rates_beside_the_klines() -> None:
    """``serve --data`` funds as ``quantum backtest --data`` does: Binance's recorded
    XRPUSDT rates (beside the 5m klines), served on its fundingRate history."""
    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    series = load_series(data, seed=0)[0]
    recorded = find_funding(data, ["XRPUSDT"])["XRPUSDT"]
    core = MatchingCore(start_ms=int(series[0].open_time[0]), funding=load_funding(data, series))
    server = SimHttpServer(SimExchange(core))

    async def no_wait(seconds: float) -> None:
        return None

    await replay(server, series, speed=60, sleep=no_wait)
    settled = core.funding_rates(0, symbol="XRPUSDT")
    first = int(recorded.funding_time[0])  # the file starts three days after the klines
    before = [r for r in settled if r.funding_time < first - 60_000]
    after = [r for r in settled if r.funding_time >= first - 60_000]
    assert before and {r.rate for r in before} == {Decimal("0.0001")}  # the flat default
    in_range = recorded.funding_time[recorded.funding_time <= core.now_ms]
    assert len(after) == len(in_range) >= 10  # every recorded settlement, once each
    for i, row in enumerate(after):
        assert abs(row.funding_time - int(recorded.funding_time[i])) < 60_000  # Binance's ms
        assert row.rate == recorded.rate_at(i)


async def test_replayed_mark_klines_are_the_venues_mark(tmp_path: Path) -> None:
    """``serve --data`` with Binance's markPriceKlines beside the klines walks that mark:
    /fapi/v1/markPriceKlines answers the file's bars, premiumIndex its latest close."""
    import shutil

    import aiohttp

    for name in ("XRPUSDT-1h-2021-11-17_2021-11-21.csv",
                 "XRPUSDT-markPriceKlines-1h-2021-11-15_2021-11-19.csv"):  # fmt: skip
        shutil.copy(shared_data(f"klines/{name}"), tmp_path / name)
    series, marks = load_series(tmp_path, seed=0)
    assert marks.source.startswith("files: 1 symbols")
    series = [s.slice(0, 30) for s in series]  # inside the mark file's days
    server = SimHttpServer(SimExchange(MatchingCore(start_ms=int(series[0].open_time[0]))))

    async def no_wait(seconds: float) -> None:
        return None

    await replay(server, series, speed=60, sleep=no_wait, marks=marks.series)
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            query = {"symbol": "XRPUSDT", "interval": "1h", "limit": "30"}
            async with http.get(f"{url}/fapi/v1/markPriceKlines", params=query) as response:
                rows = await response.json()
            async with http.get(f"{url}/fapi/v1/klines", params=query) as response:
                trades = await response.json()
            async with http.get(f"{url}/fapi/v1/premiumIndex", params=query) as response:
                index = await response.json()
    finally:
        await server.stop()
    expected = marks.series["XRPUSDT"].slice(0, 30)
    assert [float(r[4]) for r in rows] == expected.close.tolist()
    assert [float(r[4]) for r in rows] != [float(r[4]) for r in trades]
    assert float(index["markPrice"]) == expected.close[-1]
