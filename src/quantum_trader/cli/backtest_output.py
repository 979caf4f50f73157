"""``quantum backtest``'s report options, checked: ``--report-symbol``,
``--report-window``, ``--lookahead-samples``. Every problem is an ``InputError`` naming
the option and the fix."""

from __future__ import annotations

from collections.abc import Sequence

from quantum_trader.backtest.runner import InputError, parse_day
from quantum_trader.data import BarSeries
from quantum_trader.domain.timefmt import iso_utc


def parse_window(text: str | None) -> tuple[int, int] | None:
    """``START/END`` (ISO dates or date-times, UTC; the end excluded) as ms."""
    if text is None:
        return None
    start, sep, end = text.partition("/")
    if not sep or not start.strip() or not end.strip():
        raise InputError(
            "--report-window", f"{text!r}: write START/END, e.g. 2024-01-08/2024-01-15"
        )
    lo = parse_day("--report-window", start.strip())
    hi = parse_day("--report-window", end.strip())
    if hi <= lo:
        raise InputError("--report-window", f"{text}: the end must be after the start")
    return lo, hi


def report_symbol(text: str | None) -> str | None:
    if text is None:
        return None
    name = text.strip().upper()
    if not name.isalnum():
        raise InputError("--report-symbol", f"{text!r}: write a symbol like BTCUSDT")
    return name


def check_view(
    symbol: str | None, window: tuple[int, int] | None, series: Sequence[BarSeries]
) -> None:
    """The report's symbol is one the run trades; its window holds some of its bars."""
    by_name = {s.symbol: s for s in series}
    if symbol is not None and symbol not in by_name:
        raise InputError(
            "--report-symbol", f"{symbol} is not in this run; pick one of {', '.join(by_name)}"
        )
    if window is None:
        return
    shown = [by_name[symbol]] if symbol is not None else list(by_name.values())
    first = min(int(s.open_time[0]) for s in shown)
    last = max(int(s.open_time[-1]) for s in shown)
    if window[1] <= first or window[0] > last:
        raise InputError(
            "--report-window",
            f"holds none of the bars, which run from {iso_utc(first)} to {iso_utc(last)}; "
            "pick dates inside them",
        )


def lookahead_samples(value: int) -> int:
    if value < 0:
        raise InputError(
            "--lookahead-samples", f"{value}: give a count of signal bars, or 0 for all of them"
        )
    return value
