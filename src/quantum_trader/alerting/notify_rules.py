"""The notifier's decisions, pure of IO and clocks: which target wants an event, whether
an answer is delivered, worth a retry or final, how long to wait before the next attempt
(``Retry-After`` honoured), the token bucket of a target's rate limit, and the market's
UTC day. Every function takes ``now`` (epoch ms) where time matters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from quantum_trader.config import NotifySettings, NotifyTarget

TEST = "test"  # `quantum notify test`: every target takes it, whatever it subscribed to
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wants(target: NotifyTarget, kind: str) -> bool:
    """Whether ``target`` subscribed to events of ``kind``."""
    return kind == TEST or any(k.value == kind for k in target.events)


def rate_per_minute(settings: NotifySettings, target: NotifyTarget) -> float:
    return target.rate_per_minute or settings.rate_per_minute


@dataclass
class TokenBucket:
    """``burst`` requests at once, then ``rate_per_s``; refilled by the time passed."""

    rate_per_s: float
    burst: int
    tokens: float = field(init=False)
    at_ms: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def _refill(self, now_ms: int) -> None:
        if self.at_ms is not None and now_ms > self.at_ms:
            gained = (now_ms - self.at_ms) / 1000 * self.rate_per_s
            self.tokens = min(float(self.burst), self.tokens + gained)
        if self.at_ms is None or now_ms > self.at_ms:
            self.at_ms = now_ms

    def wait_s(self, now_ms: int) -> float:
        """Seconds until a request may go (0: now)."""
        self._refill(now_ms)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate_per_s

    def take(self, now_ms: int) -> None:
        """Spend one request's token (call once ``wait_s`` is 0)."""
        self._refill(now_ms)
        self.tokens -= 1


def answer_is(status: int) -> str:
    """``sent`` (2xx), ``retry`` (429, 408, 5xx: the target may take it later) or
    ``final`` (any other answer: a wrong URL, token or body will not get better)."""
    if 200 <= status < 300:
        return "sent"
    if status in (408, 429) or 500 <= status < 600:
        return "retry"
    return "final"


def retry_after_s(headers: dict[str, str], body: str, now_ms: int) -> float | None:
    """How long the target asked us to wait: the ``Retry-After`` header (seconds or an
    HTTP date), else Telegram's ``parameters.retry_after`` or Discord's ``retry_after``."""
    header = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if header is not None:
        text = header.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, (moment - at(now_ms)).total_seconds())
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(data, dict):
        nested = data.get("parameters")
        value = nested.get("retry_after") if isinstance(nested, dict) else data.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0.0, float(value))
    return None


@dataclass(frozen=True, slots=True)
class NextStep:
    """After a failed attempt: wait ``wait_s`` and try again, or give up (``wait_s`` None)
    with ``reason``."""

    wait_s: float | None
    reason: str = ""


def after_failure(
    settings: NotifySettings, attempt: int, retryable: bool, retry_after: float | None, why: str
) -> NextStep:
    """What follows failed attempt number ``attempt`` (1-based): exponential backoff from
    ``backoff_s`` up to ``max_backoff_s``, or exactly the target's ``Retry-After``; no
    retry on a final answer, after ``retries`` retries, or when the target asks for a
    wait longer than ``max_backoff_s``."""
    if not retryable:
        return NextStep(None, why)
    if attempt > settings.retries:
        tries = f"{attempt} attempt" + ("s" if attempt > 1 else "")
        return NextStep(None, f"gave up after {tries}: {why}")
    if retry_after is not None:
        if retry_after > settings.max_backoff_s:
            return NextStep(None, f"{why}: asked to wait {retry_after:g}s, more than max_backoff_s")
        return NextStep(retry_after)
    return NextStep(min(settings.backoff_s * 2 ** (attempt - 1), settings.max_backoff_s))


def at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def utc_day(ms: int) -> str:
    """The UTC date of ``ms``: ``2024-01-01``."""
    return at(ms).strftime("%Y-%m-%d")


def day_start_ms(day: str) -> int:
    moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int((moment - _EPOCH).total_seconds() * 1000)


def day_owed(now_ms: int, last_done: str | None) -> tuple[str | None, str]:
    """The market day whose summary is due at ``now_ms``, if any, and the day to record as
    done. The day just ended is owed once; with nothing recorded (a first start) no day is
    owed and yesterday is recorded, so no summary covers a day the notifier never saw."""
    yesterday = utc_day(now_ms - DAY_MS)
    if last_done is None or last_done >= yesterday:
        return None, max(last_done or yesterday, yesterday)
    return yesterday, yesterday
