"""Checks and repairs for loaded candles: order, duplicates, gaps, alignment, OHLC sanity.

Every problem is located by file and row, so an operator can open the file and see it.
Repair is deliberately narrow and reported: sort, drop *exact* duplicates, fill gaps with
flat bars at the previous close and zero volume (a minute without trades). Anything else
(conflicting duplicates, broken OHLC, NaN/inf, misaligned times) is never guessed at.
A price far off the bars around it (``outliers``) is reported, not refused: it is almost
always a bad print, but only the operator can tell, so loads go on and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from quantum_trader.data.bars import BarSeries, DataError, interval_offset_ms

REPAIR_HINT = "rerun with --repair (Python: repair=True)"
# A bar whose high is above FACTOR×, or whose low is below 1/FACTOR of, the closes around
# it is a bad print (a misplaced decimal point, a mixed-up file), not a market move.
OUTLIER_FACTOR = 20.0
OUTLIER_WINDOW = 4  # bars on each side whose closes set the reference price


def fmt_time(ms: int) -> str:
    """UTC time of a ms timestamp, as '2021-11-15 00:00'."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True, eq=False)
class RawKlines:
    """Bars as read, before any check, with the file and line every bar came from."""

    series: BarSeries
    files: tuple[str, ...]
    file_index: NDArray[np.int32]
    line: NDArray[np.int64]  # 1-based line in the file (header counted) or Parquet row

    def where(self, i: int) -> str:
        return f"{self.files[int(self.file_index[i])]}: row {int(self.line[i])}"

    @staticmethod
    def concat(parts: list[RawKlines]) -> RawKlines:
        files: list[str] = []
        indices = []
        for part in parts:
            indices.append(part.file_index + len(files))
            files.extend(part.files)
        return RawKlines(
            BarSeries.concat([p.series for p in parts]),
            tuple(files),
            np.concatenate(indices).astype(np.int32),
            np.concatenate([p.line for p in parts]),
        )


@dataclass(frozen=True, slots=True)
class Issue:
    """The first occurrence of one kind of problem."""

    kind: str
    where: str
    detail: str
    fix: str


@dataclass(frozen=True, slots=True)
class QualityReport:
    """What is wrong with a series, counted per kind, with the first example of each."""

    symbol: str
    interval: str
    rows: int
    unsorted: int = 0  # places where a bar is older than the one before it
    duplicates: int = 0  # extra copies of identical bars
    conflicting_duplicates: int = 0  # same open time, different values
    gaps: int = 0
    missing_bars: int = 0
    misaligned: int = 0
    non_finite: int = 0
    bad_ohlc: int = 0
    outliers: int = 0  # bars with a price far off the neighbouring closes
    issues: tuple[Issue, ...] = field(default=())

    @property
    def fatal(self) -> bool:
        """Problems that repair cannot fix."""
        return bool(
            self.conflicting_duplicates or self.misaligned or self.non_finite or self.bad_ohlc
        )

    @property
    def clean(self) -> bool:
        return not (self.fatal or self.unsorted or self.duplicates or self.gaps)

    def error(self, *, allow_gaps: bool = False) -> DataError | None:
        """The error to raise for an unrepaired load, or None when the data is usable."""
        for issue in self.issues:
            if (issue.kind == "gap" and allow_gaps) or issue.kind == "outliers":
                continue
            totals = (
                f"{self.gaps} gaps, {self.missing_bars} missing bars in total"
                if issue.kind == "gap"
                else f"{self.count(issue.kind)} such rows in total"
            )
            return DataError(f"{issue.where}: {issue.detail} ({totals}). Fix: {issue.fix}")
        return None

    def warning(self) -> str | None:
        """One line about suspect prices (which loads do not refuse), or None."""
        for issue in self.issues:
            if issue.kind == "outliers":
                return (
                    f"{issue.where}: {issue.detail} ({self.outliers} such bars in total). "
                    f"Check: {issue.fix}"
                )
        return None

    def count(self, kind: str) -> int:
        return int(getattr(self, kind.replace("-", "_")))


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What ``repair_bars`` changed."""

    reordered: bool = False
    duplicates_dropped: int = 0
    gaps_filled: int = 0
    bars_inserted: int = 0

    @property
    def changed(self) -> bool:
        return self.reordered or bool(self.duplicates_dropped or self.bars_inserted)

    def describe(self) -> str:
        """One phrase for a person: what repair changed, or that nothing needed it."""
        if not self.changed:
            return "nothing to repair"
        return (
            f"{'reordered, ' if self.reordered else ''}dropped {self.duplicates_dropped} "
            f"exact duplicates, filled {self.gaps_filled} gaps with {self.bars_inserted} flat bars"
        )


def _first(mask: NDArray[np.bool_]) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def check_bars(raw: RawKlines) -> QualityReport:
    """Count every kind of problem in ``raw`` without changing it."""
    s = raw.series
    step = s.interval_ms
    counts: dict[str, int] = {}
    issues: list[Issue] = []

    def note(kind: str, mask: NDArray[np.bool_], detail: str, fix: str, at: int = 0) -> None:
        first = _first(mask)
        counts[kind] = int(mask.sum())
        if first is not None:
            issues.append(Issue(kind, raw.where(first + at), detail.format(i=first + at), fix))

    prices = np.stack([s.open, s.high, s.low, s.close])
    finite = np.isfinite(prices).all(axis=0) & np.isfinite(s.volume)
    note(
        "non_finite",
        ~finite,
        "a price or volume is NaN or infinite",
        "correct or delete the row; repair cannot invent a price",
    )
    with np.errstate(invalid="ignore"):
        bad = finite & (
            (s.high < np.maximum(np.maximum(s.open, s.close), s.low))
            | (s.low > np.minimum(s.open, s.close))
            | (prices <= 0).any(axis=0)
            | (s.volume < 0)
        )
    note(
        "bad_ohlc",
        bad,
        "OHLC is inconsistent (need high ≥ open, close, low ≥ low > 0 and volume ≥ 0)",
        "correct or delete the row; repair cannot invent a price",
    )
    _check_outliers(raw, finite & ~bad, counts, issues)
    note(
        "misaligned",
        (s.open_time - interval_offset_ms(s.interval)) % step != 0,
        f"open time is not on a {s.interval} boundary",
        f"check that the file really holds {s.interval} candles (the name says so)",
    )

    times = s.open_time
    note("unsorted", np.diff(times) < 0, "bar is older than the one before it", REPAIR_HINT, 1)
    order = np.argsort(times, kind="stable")
    st = times[order]
    same = np.diff(st) == 0
    cols = np.stack([s.open, s.high, s.low, s.close, s.volume])[:, order]
    equal = (cols[:, 1:] == cols[:, :-1]).all(axis=0)
    exact, conflict = same & equal, same & ~equal
    for kind, mask, detail, fix in (
        ("duplicates", exact, "exact duplicate of an earlier bar", REPAIR_HINT),
        (
            "conflicting_duplicates",
            conflict,
            "two bars with the same open time but different values",
            "keep one of the two rows (repair will not choose)",
        ),
    ):
        counts[kind] = int(mask.sum())
        first = _first(mask)
        if first is not None:
            t = fmt_time(int(st[first + 1]))
            issues.append(Issue(kind, raw.where(int(order[first + 1])), f"{detail} at {t}", fix))

    unique = st[np.concatenate(([True], ~same))] if len(st) else st
    delta = np.diff(unique)
    gap = delta > step
    counts["gaps"] = int(gap.sum())
    counts["missing_bars"] = int((delta[gap] // step - 1).sum())
    first_gap = _first(gap)
    if first_gap is not None:
        after = int(unique[first_gap + 1])
        row = int(order[np.searchsorted(st, after)])
        missing = int(delta[first_gap] // step - 1)
        issues.append(
            Issue(
                "gap",
                raw.where(row),
                f"{missing} {s.interval} bar(s) missing before {fmt_time(after)} "
                f"(previous bar {fmt_time(int(unique[first_gap]))})",
                "rerun with --repair to fill them with flat bars "
                "(Python: repair=True, or allow_gaps=True to keep them)",
            )
        )
    order_of_kinds = [
        "non_finite",
        "bad_ohlc",
        "outliers",
        "misaligned",
        "conflicting_duplicates",
        "unsorted",
        "duplicates",
        "gap",
    ]
    issues.sort(key=lambda i: order_of_kinds.index(i.kind))
    return QualityReport(s.symbol, s.interval, len(s), issues=tuple(issues), **counts)


def _check_outliers(
    raw: RawKlines, usable: NDArray[np.bool_], counts: dict[str, int], issues: list[Issue]
) -> None:
    """Flag bars priced ``OUTLIER_FACTOR``× off the median close of the ``OUTLIER_WINDOW``
    bars on either side (in time order), which up to three bad prints in a row cannot move."""
    s = raw.series
    rows = np.flatnonzero(usable)
    rows = rows[np.argsort(s.open_time[rows], kind="stable")]
    counts["outliers"] = 0
    n, k = len(rows), OUTLIER_WINDOW
    if n < 3:
        return
    padded = np.pad(s.close[rows], k, mode="reflect")  # the edges look at real neighbours
    shifts = [*range(k), *range(k + 1, 2 * k + 1)]  # every neighbour, not the bar itself
    around = np.median(np.stack([padded[j : j + n] for j in shifts]), axis=0)
    high, low = s.high[rows], s.low[rows]
    off = (high > around * OUTLIER_FACTOR) | (low < around / OUTLIER_FACTOR)
    counts["outliers"] = int(off.sum())
    first = _first(off)
    if first is None:
        return
    price = high[first] if high[first] > around[first] * OUTLIER_FACTOR else low[first]
    ratio = price / around[first]
    times = f"{ratio:,.0f}×" if ratio >= 1 else f"1/{1 / ratio:,.0f}"
    issues.append(
        Issue(
            "outliers",
            raw.where(int(rows[first])),
            f"price {price:.10g} is {times} the closes around it (about {around[first]:.10g})",
            "correct or delete the row if it is a bad print; repair leaves it as it is",
        )
    )


def repair_bars(
    raw: RawKlines, report: QualityReport | None = None
) -> tuple[BarSeries, RepairReport]:
    """Sort, drop exact duplicates and fill gaps; raise ``DataError`` on what cannot be fixed."""
    report = report or check_bars(raw)
    if report.fatal:
        error = report.error()
        assert error is not None  # fatal implies at least one issue
        raise error
    s = raw.series
    if len(s) == 0:
        return s, RepairReport()
    order = np.argsort(s.open_time, kind="stable")
    keep = np.concatenate(([True], np.diff(s.open_time[order]) != 0))
    ordered = s.take(order[keep])
    step = s.interval_ms
    slot = (ordered.open_time - ordered.open_time[0]) // step
    n_slots = int(slot[-1]) + 1
    source = np.full(n_slots, -1, np.int64)
    source[slot] = np.arange(len(ordered))
    present = source >= 0
    last_real = np.maximum.accumulate(source)  # the bar a missing slot repeats
    flat = ordered.close[last_real]
    filled = BarSeries(
        s.symbol,
        s.interval,
        ordered.open_time[0] + np.arange(n_slots, dtype=np.int64) * step,
        np.where(present, ordered.open[last_real], flat),
        np.where(present, ordered.high[last_real], flat),
        np.where(present, ordered.low[last_real], flat),
        flat,
        np.where(present, ordered.volume[last_real], 0.0),
    )
    return filled, RepairReport(
        reordered=report.unsorted > 0,
        duplicates_dropped=int((~keep).sum()),
        gaps_filled=report.gaps,
        bars_inserted=n_slots - len(ordered),
    )
