"""Times for people: epoch milliseconds as ISO-8601 UTC with an age.

Pure: no clock inside. The caller passes ``now`` (epoch ms) so a status line reads the
same in a test, a replay and production::

    >>> at_with_age(1_704_092_400_000, now=1_704_092_592_000)
    '2024-01-01T07:00:00Z (3m 12s ago)'

Seconds precision (an operator reads minutes, not milliseconds); a time ahead of ``now``
(a lease expiry, a lockout end, a skewed clock) reads ``in 5s``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_utc(ms: int) -> str:
    """``ms`` since the Unix epoch as ``YYYY-MM-DDTHH:MM:SSZ`` (floored to the second)."""
    moment = _EPOCH + timedelta(milliseconds=ms - ms % 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(ms: int) -> str:
    """A non-negative span for people, two units at most: ``0s``, ``42s``, ``3m 12s``,
    ``2h 5m``, ``3d 4h``. Floored to the second."""
    seconds = max(ms, 0) // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def age(ms: int, now: int) -> str:
    """How long ago ``ms`` was at ``now``: ``3m 12s ago``, or ``in 5s`` for a future time."""
    if ms > now:
        return f"in {duration(ms - now)}"
    return f"{duration(now - ms)} ago"


def at_with_age(ms: int, now: int) -> str:
    """``2024-01-01T07:00:00Z (3m 12s ago)``."""
    return f"{iso_utc(ms)} ({age(ms, now)})"


def epoch_ms(value: object) -> int | None:
    """``value`` as epoch ms if it is a positive integer (JSON read from Redis), else None.

    0 is "never set" (a risk state that has been NORMAL since its guard started says
    ``since: 0``); booleans, floats, strings and negatives are not times.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def iso_or_none(value: object) -> str | None:
    """``iso_utc`` of a JSON time field, or None when it is not a time (for ``--json``)."""
    ms = epoch_ms(value)
    return None if ms is None else iso_utc(ms)


def describe(value: object, now: int, *, unknown: str = "unknown") -> str:
    """``at_with_age`` of a JSON time field, or ``unknown`` when it is not a time."""
    ms = epoch_ms(value)
    return unknown if ms is None else at_with_age(ms, now)
