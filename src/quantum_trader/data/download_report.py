"""What a download was asked and what it did: the request, one result per file, the
report (``as_dict`` is the ``--json`` summary) and the error that carries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from quantum_trader.data.archive import DEFAULT_KINDS, day_ms
from quantum_trader.data.fetch import DownloadError, Stats
from quantum_trader.domain.timefmt import iso_utc

ARCHIVE_URL = "https://data.binance.vision"
REST_URL = "https://fapi.binance.com"
REST_WEIGHT_LIMIT = 2400  # Binance's request weight per minute and IP
GOT = ("archive", "rest", "local")


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """What to download: ``[start, end)`` in whole UTC days, into ``out/<SYMBOL>/``."""

    symbols: tuple[str, ...]
    interval: str
    start: date
    end: date  # exclusive: the first day not downloaded
    out: Path
    kinds: tuple[str, ...] = DEFAULT_KINDS
    archive_url: str = ARCHIVE_URL
    rest_url: str | None = REST_URL  # None: no REST fallback
    jobs: int = 4  # archive requests in flight
    weight_limit: int = REST_WEIGHT_LIMIT


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file of the download and where it came from (``source``: archive, rest,
    local — already there and verified —, missing — published nowhere — or failed)."""

    kind: str
    symbol: str
    period: str  # 2024-01, 2024-01-05, or a REST funding span 2024-03-01_2024-03-04
    source: str
    path: Path | None = None
    size: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"symbol": self.symbol, "kind": self.kind, "period": self.period}
        row["source"] = self.source
        if self.path is not None:
            row |= {"path": str(self.path), "bytes": self.size}
        if self.detail:
            row["reason"] = self.detail
        return row


class Listener(Protocol):
    """Progress: ``planned`` adds files to the total, ``done`` reports one finished."""

    def planned(self, count: int) -> None: ...

    def done(self, result: FileResult) -> None: ...


class Quiet:
    def planned(self, count: int) -> None:
        pass

    def done(self, result: FileResult) -> None:
        pass


@dataclass(slots=True)
class DownloadReport:
    request: DownloadRequest
    results: list[FileResult]
    stats: Stats
    seconds: float
    started_ms: int
    finished_ms: int = 0

    def count(self, source: str) -> int:
        return sum(1 for r in self.results if r.source == source)

    def as_dict(self) -> dict[str, Any]:
        req, stats = self.request, self.stats
        written = sum(r.size for r in self.results if r.source in ("archive", "rest"))
        ordered = sorted(self.results, key=lambda r: (r.symbol, r.kind, r.period))
        return {
            "symbols": list(req.symbols),
            "interval": req.interval,
            "kinds": list(req.kinds),
            "start": iso_utc(day_ms(req.start)),
            "end": iso_utc(day_ms(req.end)),
            "out": str(req.out),
            "archive_url": req.archive_url,
            "rest_url": req.rest_url,
            "files_fetched": self.count("archive"),
            "files_from_rest": self.count("rest"),
            "files_skipped": self.count("local"),
            "files_missing": self.count("missing"),
            "files_failed": self.count("failed"),
            "bytes": stats.bytes_fetched,
            "bytes_written": written,
            "seconds": round(self.seconds, 3),
            "started_at": iso_utc(self.started_ms),
            "finished_at": iso_utc(self.finished_ms),
            "requests": stats.requests,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "weight_pauses": stats.weight_pauses,
            "checksum_mismatches": stats.checksum_mismatches,
            "missing": [r.as_dict() for r in ordered if r.source == "missing"],
            "failed": [r.as_dict() for r in ordered if r.source == "failed"],
            "files": [r.as_dict() for r in ordered if r.source in GOT],
        }


class DownloadFailed(DownloadError):
    """The download stopped (or a symbol had nothing); ``report`` says what was done."""

    def __init__(self, message: str, code: int, report: DownloadReport) -> None:
        super().__init__(message, code)
        self.report = report
