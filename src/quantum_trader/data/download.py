"""Download Binance USDⓈ-M market data into the files the loaders read.

Whole months of a range come from the archive's monthly zips, the rest from its daily
zips (``archive.plan``). A month the archive has not published yet falls back to its
days, and a day it does not have (yet) to the REST API (``rest``). Every archive file is
checked against its ``.CHECKSUM``: a mismatch is deleted and fetched again, and after
``RetryPolicy.attempts`` downloads the file fails with a clear reason. Files are written
under a temporary name and renamed only once verified, each with its ``.CHECKSUM``
beside it, so a file already there is skipped without a request and an interrupted
download, run again, fetches only what is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp

from quantum_trader.clock import Clock, steady_clock
from quantum_trader.data.archive import (
    PART_SUFFIX,
    Unit,
    checksum_line,
    checksum_path,
    day_ms,
    parse_checksum,
    plan,
    remove_with_checksum,
    rest_funding_name,
    verified,
)
from quantum_trader.data.bars import DataError
from quantum_trader.data.download_report import (
    GOT,
    DownloadFailed,
    DownloadReport,
    DownloadRequest,
    FileResult,
    Listener,
    Quiet,
)
from quantum_trader.data.fetch import DownloadError, Host, HttpStatus, RetryPolicy, Stats
from quantum_trader.data.rest import InvalidSymbol, RestClient, RestRefused, funding_zip, kline_zip


def _write_verified(path: Path, data: bytes) -> int:
    """``data`` into ``path`` through a temporary name, with its ``.CHECKSUM``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + PART_SUFFIX)
    part.write_bytes(data)
    checksum_path(path).write_text(checksum_line(hashlib.sha256(data).hexdigest(), path.name))
    os.replace(part, path)
    return len(data)


@dataclass(slots=True)
class _Run:
    request: DownloadRequest
    archive: Host
    rest: RestClient | None
    listener: Listener
    attempts: int
    results: list[FileResult] = field(default_factory=list)

    def local(self, symbol: str, name: str) -> Path:
        return self.request.out / symbol / name

    def _done(
        self,
        unit: Unit,
        source: str,
        path: Path | None = None,
        *,
        size: int | None = None,
        period: str | None = None,
        detail: str = "",
    ) -> None:
        if size is None:
            size = path.stat().st_size if path is not None else 0
        result = FileResult(
            unit.kind, unit.symbol, period or unit.label, source, path, size, detail
        )
        self.results.append(result)
        self.listener.done(result)

    async def unit(self, unit: Unit) -> None:
        if unit.kind == "fundingRate":
            await self._funding(unit)
        elif unit.monthly:
            await self._month(unit)
        else:
            await self._day(unit)

    async def _month(self, unit: Unit) -> None:
        path = self.local(unit.symbol, unit.local_name)
        if verified(path):
            self._done(unit, "local", path)
            return
        days = unit.days()
        day_paths = [self.local(d.symbol, d.local_name) for d in days]
        if all(verified(p) for p in day_paths):  # an earlier run got them day by day
            self.listener.planned(len(days) - 1)
            for day, day_path in zip(days, day_paths, strict=True):
                self._done(day, "local", day_path)
            return
        got = await self._from_archive(unit, path)
        if got == "archive":
            for day_path in day_paths:  # the month replaces days fetched before it
                remove_with_checksum(day_path)
        if got != "missing":
            return
        self.listener.planned(len(days) - 1)
        await asyncio.gather(*(self._day(d) for d in days))

    async def _day(self, unit: Unit) -> None:
        path = self.local(unit.symbol, unit.local_name)
        month = self.local(unit.symbol, unit.month().local_name)
        for there in (path, month):
            if verified(there):
                self._done(unit, "local", there)
                return
        if await self._from_archive(unit, path) != "missing":
            return
        if self.rest is None:
            self._done(unit, "missing", detail="not in the archive (REST fallback off)")
            return
        assert unit.interval is not None
        try:
            rows = await self.rest.klines(
                unit.kind, unit.symbol, unit.interval, unit.start_ms, unit.end_ms
            )
        except InvalidSymbol as exc:
            self._done(unit, "missing", detail=f"not in the archive; REST: {exc}")
            return
        except RestRefused as exc:
            self._done(unit, "failed", detail=str(exc))
            return
        if not rows:
            why = "no bars" if rows is not None else "endpoint not served"
            self._done(unit, "missing", detail=f"not in the archive; REST: {why}")
            return
        size = _write_verified(path, kline_zip(rows, path.name))
        self._done(unit, "rest", path, size=size)

    async def _funding(self, unit: Unit) -> None:
        path = self.local(unit.symbol, unit.local_name)
        if verified(path):
            self._done(unit, "local", path)
            return
        if await self._from_archive(unit, path) != "missing":
            return
        req = self.request
        first, last = max(unit.first, req.start), min(unit.last, req.end - timedelta(days=1))
        span = f"{first:%Y-%m-%d}_{last:%Y-%m-%d}"
        rest_path = self.local(unit.symbol, rest_funding_name(unit.symbol, first, last))
        if verified(rest_path):
            self._done(unit, "local", rest_path, period=span)
            return
        if self.rest is None:
            self._done(unit, "missing", detail="not in the archive (REST fallback off)")
            return
        try:
            rows = await self.rest.funding(unit.symbol, day_ms(first), day_ms(last) + 86_400_000)
        except (InvalidSymbol, RestRefused) as exc:
            source = "missing" if isinstance(exc, InvalidSymbol) else "failed"
            self._done(unit, source, detail=f"not in the archive; REST: {exc}")
            return
        if not rows:
            self._done(unit, "missing", detail="not in the archive; REST: no funding rates")
            return
        size = _write_verified(rest_path, funding_zip(rows, rest_path.name))
        self._done(unit, "rest", rest_path, size=size, period=span)

    async def _from_archive(self, unit: Unit, path: Path) -> str:
        """Fetch ``unit`` from the archive into ``path``, verified: "archive" when it
        did, "missing" when the archive does not have it, "failed" (recorded) else."""
        try:
            return await self._fetch_verified(unit, path)
        except HttpStatus as exc:
            self._done(unit, "failed", detail=f"{unit.archive_path}: {exc}")
            return "failed"

    async def _fetch_verified(self, unit: Unit, path: Path) -> str:
        name = unit.archive_name
        part = path.with_name(path.name + PART_SUFFIX)
        digest = expected = ""
        for _ in range(self.attempts):
            text = await self.archive.get_text(unit.archive_path + ".CHECKSUM")
            if text is None:
                return "missing"
            try:
                expected = parse_checksum(text, name)
            except DataError as exc:
                self._done(unit, "failed", detail=str(exc))
                return "failed"
            path.parent.mkdir(parents=True, exist_ok=True)
            got = await self.archive.to_file(unit.archive_path, part)
            if got is None:
                return "missing"
            digest, _size = got
            if digest == expected:
                checksum_path(path).write_text(checksum_line(digest, path.name))
                os.replace(part, path)
                self._done(unit, "archive", path)
                return "archive"
            self.archive.stats.checksum_mismatches += 1
            part.unlink(missing_ok=True)
        self._done(
            unit,
            "failed",
            detail=f"{name}: sha256 {digest[:16]}… does not match its .CHECKSUM "
            f"{expected[:16]}… after {self.attempts} downloads (deleted)",
        )
        return "failed"

    def symbol_problem(self) -> DownloadError | None:
        """A symbol that got nothing at all: a wrong name, or a range before its listing."""
        req = self.request
        span = f"from {req.start} to {req.end}"
        for symbol in req.symbols:
            mine = [r for r in self.results if r.symbol == symbol]
            if any(r.source in GOT for r in mine) or any(r.source == "failed" for r in mine):
                continue
            if self.rest is not None and symbol in self.rest.invalid:
                return DownloadError(
                    f"--symbols {symbol}: not a Binance USDⓈ-M symbol (the archive has no "
                    f"file of it {span} and {req.rest_url} answers Invalid symbol); check "
                    "the name, e.g. BTCUSDT",
                    2,
                )
            return DownloadError(
                f"--symbols {symbol}: no data {span} in the archive"
                + (" or the REST API" if self.rest is not None else "")
                + "; check the name, and the range: before its listing, or too recent "
                "to be published",
                2,
            )
        return None


async def download(
    request: DownloadRequest,
    *,
    clock: Clock | None = None,
    listener: Listener | None = None,
    policy: RetryPolicy | None = None,
) -> DownloadReport:
    """Fetch what ``request`` names that is not already there; see the module doc.
    Raises ``DownloadFailed`` (with the report so far) when a server stops answering or
    a symbol has no data at all."""
    clock = clock or steady_clock()
    policy = policy or RetryPolicy()
    listener = listener or Quiet()
    units = plan(list(request.symbols), request.interval, request.kinds, request.start, request.end)
    listener.planned(len(units))
    started, started_ms = time.perf_counter(), clock.now_ms()
    stats = Stats()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        archive = Host(
            session, request.archive_url, "--archive-url", clock, stats,
            concurrency=request.jobs, policy=policy,
        )  # fmt: skip
        rest = None
        if request.rest_url is not None:
            rest_host = Host(
                session, request.rest_url, "--rest-url", clock, stats,
                concurrency=1, policy=policy, weight_limit=request.weight_limit,
            )  # fmt: skip
            rest = RestClient(rest_host)
        run = _Run(request, archive, rest, listener, policy.attempts)

        def report() -> DownloadReport:
            seconds = time.perf_counter() - started
            finished = clock.now_ms()
            return DownloadReport(request, list(run.results), stats, seconds, started_ms, finished)

        try:
            async with asyncio.TaskGroup() as group:
                for unit in units:
                    group.create_task(run.unit(unit))
        except BaseExceptionGroup as grouped:
            error = _first(grouped)
            if isinstance(error, DownloadError):
                raise DownloadFailed(str(error), error.code, report()) from None
            raise
    done = report()
    problem = run.symbol_problem()
    if problem is not None:
        raise DownloadFailed(str(problem), problem.code, done)
    return done


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
