"""Sending one notice to one webhook: the target's rate limit (a token bucket per target,
on the injected clock), the POST through aiohttp, and retries with backoff on 5xx, 429,
timeouts and refused connections, honouring ``Retry-After``, until the configured
attempts are spent. Every request waits for a token, retries included: chat APIs count
requests, not messages. A reason never quotes the URL (chat URLs carry their token).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp

from quantum_trader.alerting.notify_formats import body_for, encoded
from quantum_trader.alerting.notify_messages import Notice
from quantum_trader.alerting.notify_rules import (
    TokenBucket,
    after_failure,
    answer_is,
    rate_per_minute,
    retry_after_s,
)
from quantum_trader.clock import Clock, pause, steady_clock
from quantum_trader.config import NotifySettings, NotifyTarget

MAX_ANSWER_BYTES = 65_536
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """How sending one notice to one target ended. ``stopped``: the service stopped
    before it was decided (the notice stays queued)."""

    target: str
    kind: str
    sent: bool
    attempts: int
    status: int | None = None
    reason: str = ""
    elapsed_ms: int = 0
    stopped: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "kind": self.kind,
            "sent": self.sent,
            "attempts": self.attempts,
            "status": self.status,
            "reason": self.reason,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: no answer (timeout, refused, reset)
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str = ""
    retryable: bool = True


@dataclass
class WebhookSender:
    """Posts notices to targets; one token bucket per target name."""

    settings: NotifySettings
    timer: Clock = field(default_factory=steady_clock)
    system: str = ""  # the key namespace, shown in each message
    on_retry: Callable[[str], Awaitable[None]] | None = None  # a retry of target NAME
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _session: aiohttp.ClientSession | None = None

    def bucket(self, name: str, target: NotifyTarget) -> TokenBucket:
        if name not in self.buckets:
            rate = rate_per_minute(self.settings, target) / 60
            self.buckets[name] = TokenBucket(rate, self.settings.burst)
        return self.buckets[name]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(
        self, name: str, target: NotifyTarget, notice: Notice, stop: asyncio.Event | None = None
    ) -> SendOutcome:
        """Send ``notice`` to ``target``, retrying as the settings say."""
        stop = stop or asyncio.Event()
        started = self.timer.now_ms()
        body = encoded(body_for(notice, target, self.system))
        attempt = 0
        while True:
            if not await self._token(name, target, stop):
                return self._outcome(name, target, attempt, started, stopped=True)
            attempt += 1
            answer = await _unless_stopped(self._post(target, body), stop)
            if answer is None:
                return self._outcome(name, target, attempt, started, stopped=True)
            if answer.status is not None and answer_is(answer.status) == "sent":
                return self._outcome(name, target, attempt, started, answer.status, sent=True)
            if answer.status is None:
                why, retryable, wait = answer.error, answer.retryable, None
            else:
                why = f"HTTP {answer.status}" + (f" {answer.body[:200]}" if answer.body else "")
                retryable = answer_is(answer.status) == "retry"
                wait = retry_after_s(answer.headers, answer.body, self.timer.now_ms())
            step = after_failure(self.settings, attempt, retryable, wait, why.strip())
            if step.wait_s is None:
                return self._outcome(name, target, attempt, started, answer.status, step.reason)
            if self.on_retry is not None:
                with contextlib.suppress(Exception):
                    await self.on_retry(name)
            if await pause(self.timer, step.wait_s, stop):
                return self._outcome(name, target, attempt, started, stopped=True)

    def _outcome(
        self,
        name: str,
        target: NotifyTarget,
        attempts: int,
        started: int,
        status: int | None = None,
        reason: str = "",
        *,
        sent: bool = False,
        stopped: bool = False,
    ) -> SendOutcome:
        return SendOutcome(
            target=name,
            kind=target.kind.value,
            sent=sent,
            attempts=attempts,
            status=status,
            reason="stopped before it was sent" if stopped else reason,
            elapsed_ms=self.timer.now_ms() - started,
            stopped=stopped,
        )

    async def _token(self, name: str, target: NotifyTarget, stop: asyncio.Event) -> bool:
        """Wait for the target's next token; False when stopped first."""
        bucket = self.bucket(name, target)
        while (wait := bucket.wait_s(self.timer.now_ms())) > 0:
            if await pause(self.timer, wait, stop):
                return False
        bucket.take(self.timer.now_ms())
        return True

    async def _post(self, target: NotifyTarget, body: bytes) -> Answer:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Content-Type": "application/json", "User-Agent": "quantum-trader"}
            )
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self._session.post(
                target.url.get_secret_value(), data=body, timeout=timeout, allow_redirects=False
            ) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES)
                return Answer(
                    response.status,
                    {k: v for k, v in response.headers.items()},
                    raw.decode("utf-8", errors="replace"),
                )
        except TimeoutError:
            return Answer(None, error=f"timed out after {self.settings.timeout_s:g}s")
        except aiohttp.ClientConnectorError as exc:
            return Answer(None, error=f"cannot connect to {exc.host}:{exc.port}")
        except (aiohttp.InvalidURL, ValueError) as exc:
            return Answer(None, error=f"unusable url ({type(exc).__name__})", retryable=False)
        except (aiohttp.ClientError, OSError) as exc:
            return Answer(None, error=f"connection failed ({type(exc).__name__})")


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``work``'s result, or None when ``stop`` is set first (``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    return task.result() if not task.cancelled() else None
