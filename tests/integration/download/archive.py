"""A local stand-in for Binance's public data archive, and a clock that never waits.

``build_archive`` writes a seeded synthetic market in the archive's layout — monthly and
daily kline and mark-price zips, monthly funding zips, each with its ``.CHECKSUM`` — made
with the project's own writers. ``ArchiveServer`` serves such a directory over HTTP and
can misbehave on cue: 404 for named files, corrupted bytes, 429 / 418, or dropping the
connection for good after N files. ``Background`` runs servers on an event loop in a
thread, for tests that drive the real command line (which runs its own loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import zipfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from quantum_trader.clock import Clock
from quantum_trader.data import BarSeries, FundingSeries, generate_funding, generate_market
from quantum_trader.data.archive import Unit, day_ms, next_month
from quantum_trader.data.funding import write_funding_csv
from quantum_trader.data.resample import resample
from quantum_trader.data.synthetic import MarketConfig
from quantum_trader.data.writers import write_klines_csv
from quantum_trader.exchange.sim import MatchingCore, SimConfig, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.exchange.sim.http.replay import replay

T = TypeVar("T")


class JumpClock:
    """A clock whose sleeps return at once, moving its time on by what was asked."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms
        self.waits: list[float] = []

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += int(seconds * 1000)
        await asyncio.sleep(0)


@dataclass
class Market:
    """What the archive holds, to compare downloads with."""

    bars: dict[str, BarSeries]
    funding: dict[str, FundingSeries]
    interval: str


def _zip(csv: Path, zip_path: Path) -> None:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv, zip_path.with_suffix(".csv").name)
    csv.unlink()
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    zip_path.with_name(zip_path.name + ".CHECKSUM").write_text(f"{digest}  {zip_path.name}\n")


def build_archive(
    root: Path,
    symbols: list[str],
    interval: str,
    start: date,
    end: date,
    *,
    mark: bool = False,
    seed: int = 5,
) -> Market:
    """Publish ``[start, end)`` of a synthetic market: every whole month as a monthly
    zip, every day as a daily zip (as the archive has both), funding per month."""
    root.mkdir(parents=True, exist_ok=True)
    minutes = (end - start).days * 1440
    market = generate_market(symbols, minutes, MarketConfig(seed=seed, start_ms=day_ms(start)))
    kinds = ("klines", "markPriceKlines") if mark else ("klines",)
    bars: dict[str, BarSeries] = {}
    for symbol, one_minute in market.bars.items():
        series = one_minute if interval == "1m" else resample(one_minute, interval)
        bars[symbol] = series
        spec = market.specs[symbol]
        units: list[Unit] = []
        month = start.replace(day=1)
        while month < end:
            units.append(Unit("klines", symbol, interval, month, True))
            month = next_month(month)
        units += [Unit("klines", symbol, interval, start + timedelta(days=i), False)
                  for i in range((end - start).days)]  # fmt: skip
        for unit in units:
            if unit.first < start or unit.last >= end:
                continue
            part = series.between(unit.start_ms, unit.end_ms)
            for kind in kinds:
                target = Unit(kind, symbol, interval, unit.first, unit.monthly)
                csv = root / "tmp.csv"
                write_klines_csv(
                    part, csv, tick_size=spec.tick_size, step_size=spec.step_size, header=True
                )
                _zip(csv, root / target.archive_path)
    funding = {s: generate_funding(market, s) for s in symbols}
    for symbol, rates in funding.items():
        month = start.replace(day=1)
        while month < end:
            unit = Unit("fundingRate", symbol, None, month, True)
            mask = (rates.funding_time >= unit.start_ms) & (rates.funding_time < unit.end_ms)
            part = FundingSeries(symbol, rates.funding_time[mask], rates.rate[mask])
            csv = root / "tmp.csv"
            write_funding_csv(part, csv)
            _zip(csv, root / unit.archive_path)
            month = next_month(month)
    return Market(bars, funding, interval)


@dataclass
class ArchiveServer:
    """Serves ``root`` as the archive does; the fields below make it misbehave."""

    root: Path
    missing: set[str] = field(default_factory=set)  # file names answered 404
    corrupt: dict[str, int] = field(default_factory=dict)  # name -> times served wrong
    # name -> (times, status, Retry-After): answered 429 / 418 that many times first
    limited: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    drop_after: int | None = None  # zips served whole before the connection drops for good
    requests: list[str] = field(default_factory=list)
    zips_served: int = 0
    down: bool = False
    url: str = ""
    _runner: web.AppRunner | None = None

    def zip_requests(self) -> list[str]:
        return [Path(p).name for p in self.requests if p.endswith(".zip")]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append(path)
        name = Path(path).name
        stem = name.removesuffix(".CHECKSUM")
        transport = request.transport
        if self.down and transport is not None:
            transport.abort()
            return web.Response(status=503)
        if name in self.limited and self.limited[name][0] > 0:
            count, status, wait = self.limited[name]
            self.limited[name] = (count - 1, status, wait)
            return web.Response(status=status, headers={"Retry-After": wait})
        file = self.root / path
        if stem in self.missing or not file.is_file():
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        body = file.read_bytes()
        if name.endswith(".zip"):
            if self.corrupt.get(name, 0) > 0:
                self.corrupt[name] -= 1
                body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
            if self.drop_after is not None and self.zips_served >= self.drop_after:
                self.down = True  # half the body, then the connection is gone
                response = web.StreamResponse(headers={"Content-Length": str(len(body))})
                await response.prepare(request)
                await response.write(body[: len(body) // 2])
                if transport is not None:
                    transport.abort()
                return response
            self.zips_served += 1
        return web.Response(body=body, content_type="application/octet-stream")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Background:
    """An event loop in a thread: servers for a command line that runs its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def sim_rest(
    series: list[BarSeries],
    *,
    weight_limit: int = 2400,
    weight_clock: Clock | None = None,
    marks: dict[str, BarSeries] | None = None,
) -> SimHttpServer:
    """The simulated exchange's HTTP front holding ``series`` (its /fapi/v1/klines and
    /fapi/v1/fundingRate; /fapi/v1/markPriceKlines: ``marks``), replayed into it at once."""
    first = min(int(s.open_time[0]) for s in series)
    core = MatchingCore(seed=7, start_ms=first, config=SimConfig(kline_history=10_000))
    server = SimHttpServer(
        SimExchange(core), seed=7, weight_limit=weight_limit, weight_clock=weight_clock
    )
    await server.start()

    async def at_once(_seconds: float) -> None:
        await asyncio.sleep(0)

    await replay(server, series, sleep=at_once, marks=marks)
    return server
