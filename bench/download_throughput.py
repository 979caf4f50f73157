"""Downloading market data from a local archive server: MB/s and files/s of the
downloader behind `quantum data download` (each .CHECKSUM fetched, the zip streamed to a
temporary name, hashed, verified, renamed), beside a bare aiohttp loop fetching the same
zips and .CHECKSUM files with the same concurrency into files, in the same run.

The server runs in a child process (its own core) and serves generated 1 m klines in
the archive's layout: SYMBOLS × MONTHS monthly zips (plus their funding months) of a
realistic size — a month of 1 m bars is 44,640 rows, about 1.5 MB zipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import aiohttp
from _common import report
from aiohttp import web

from quantum_trader.data import generate_funding, generate_market
from quantum_trader.data.archive import Unit, day_ms, plan
from quantum_trader.data.download import download
from quantum_trader.data.download_report import DownloadRequest
from quantum_trader.data.funding import FundingSeries, write_funding_csv
from quantum_trader.data.synthetic import MarketConfig
from quantum_trader.data.writers import write_klines_csv

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT")
START, END = date(2024, 1, 1), date(2024, 7, 1)  # six whole months
JOBS = 4
ROUNDS = 5


def _publish(csv: Path, unit: Unit, root: Path) -> None:
    target = root / unit.archive_path
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv, target.with_suffix(".csv").name)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.with_name(target.name + ".CHECKSUM").write_text(f"{digest}  {target.name}\n")


def build(root: Path) -> list[Unit]:
    minutes = (END - START).days * 1440
    market = generate_market(list(SYMBOLS), minutes, MarketConfig(seed=1, start_ms=day_ms(START)))
    units = plan(list(SYMBOLS), "1m", ("klines", "fundingRate"), START, END)
    csv = root / "tmp.csv"
    for unit in units:
        if unit.kind == "klines":
            spec = market.specs[unit.symbol]
            part = market.bars[unit.symbol].between(unit.start_ms, unit.end_ms)
            write_klines_csv(
                part, csv, tick_size=spec.tick_size, step_size=spec.step_size, header=True
            )
        else:
            rates = generate_funding(market, unit.symbol)
            mask = (rates.funding_time >= unit.start_ms) & (rates.funding_time < unit.end_ms)
            write_funding_csv(
                FundingSeries(unit.symbol, rates.funding_time[mask], rates.rate[mask]), csv
            )
        _publish(csv, unit, root)
    csv.unlink()
    return units


def serve(root: str) -> None:
    """Child process: serve ``root`` statically and print the port."""

    async def main() -> None:
        app = web.Application()
        app.router.add_static("/", root)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


async def ours(url: str, out: Path) -> tuple[float, int, int]:
    request = DownloadRequest(
        SYMBOLS, "1m", START, END, out, ("klines", "fundingRate"), url, None, JOBS
    )
    result = await download(request)
    assert result.count("archive") == len(result.results), result.as_dict()["failed"]
    return result.seconds, result.stats.bytes_fetched, len(result.results)


async def bare(url: str, units: list[Unit], out: Path) -> tuple[float, int, int]:
    slots = asyncio.Semaphore(JOBS)
    fetched = 0

    async def get(session: aiohttp.ClientSession, path: str, target: Path) -> None:
        nonlocal fetched
        async with slots, session.get(f"{url}/{path}") as resp:
            data = await resp.read()
        assert resp.status == 200, path
        target.write_bytes(data)
        fetched += len(data)

    async def one(session: aiohttp.ClientSession, unit: Unit) -> None:
        target = out / unit.local_name
        await get(session, unit.archive_path + ".CHECKSUM", Path(f"{target}.CHECKSUM"))
        await get(session, unit.archive_path, target)

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, u) for u in units))
    return time.perf_counter() - start, fetched, len(units)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="qt-archive-"))
    units = build(root)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        best_ours = best_bare = (float("inf"), 0, 0)
        for i in range(ROUNDS):
            best_ours = min(best_ours, asyncio.run(ours(url, root / f"ours-{i}")))
            best_bare = min(best_bare, asyncio.run(bare(url, units, root / f"bare-{i}")))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)
    (o_s, o_bytes, o_files), (b_s, b_bytes, b_files) = best_ours, best_bare
    mb = o_bytes / 1e6
    report(
        "download_throughput",
        mb / o_s,
        b_bytes / 1e6 / b_s,
        "MB/s",
        files_per_s=round(o_files / o_s, 1),
        baseline_files_per_s=round(b_files / b_s, 1),
        files=o_files,
        mb=round(mb, 1),
        seconds=round(o_s, 3),
        baseline_seconds=round(b_s, 3),
        jobs=JOBS,
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main()
