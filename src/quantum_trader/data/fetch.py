"""HTTP for downloads: a bounded number of requests in flight per server, retries with
backoff, ``429`` / ``418`` waited out as their ``Retry-After`` says (every request to
that server waits, not only the one refused), the REST API's request weight read from
``X-MBX-USED-WEIGHT-1M`` (near the limit the next request waits for the next minute),
and files streamed to a temporary name, hashed on the way.

Every wait goes through a ``Clock`` (``quantum_trader.clock``), so tests replace time
and never sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from quantum_trader.clock import Clock

T = TypeVar("T")
MINUTE_MS = 60_000


class DownloadError(Exception):
    """A download that cannot go on; the message is one line with the fix. ``code`` is
    the exit code a command should end with (2: the input is wrong, 1: the world is)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Unreachable(DownloadError):
    """A server that does not answer, after every retry: the whole download stops."""


class HttpStatus(Exception):
    """An answer that is neither success, 404, a rate limit nor a server error."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status, self.body = status, body


class _Transient(Exception):
    """A server error worth another try."""


class _RateLimited(Exception):
    def __init__(self, status: int, wait_s: float) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.wait_s = status, wait_s


@dataclass(slots=True)
class Stats:
    """What the servers were asked and how it went, for the summary and the tests."""

    requests: int = 0
    bytes_fetched: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 / 418 answers waited out
    weight_pauses: int = 0  # waits for the next minute near the weight limit
    checksum_mismatches: int = 0
    waited_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # tries of one request (connection errors, 5xx) and of one file
    base_s: float = 1.0  # first backoff; doubled each time
    max_s: float = 30.0
    max_rate_waits: int = 10  # 429s waited out for one request before it fails
    longest_wait_s: float = 600.0  # a longer Retry-After (a 418 ban) stops the download


def retry_after_s(headers: Mapping[str, str], now_ms: int) -> float:
    """Seconds a 429 / 418 asks to wait: ``Retry-After``, else until the next minute."""
    raw = headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return (MINUTE_MS - now_ms % MINUTE_MS) / 1000


class Host:
    """One server (the archive or the REST API): at most ``concurrency`` requests in
    flight, one shared pause, and ``weight_limit`` pacing when it reports its weight."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        option: str,
        clock: Clock,
        stats: Stats,
        *,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        weight_limit: int | None = None,
        weight_share: float = 0.8,
    ) -> None:
        self.session, self.base_url, self.option = session, base_url.rstrip("/"), option
        self.clock, self.stats = clock, stats
        self.policy = policy or RetryPolicy()
        self.weight_limit, self.weight_share = weight_limit, weight_share
        self._slots = asyncio.Semaphore(concurrency)
        self._paused_until_ms = 0

    def pause(self, seconds: float) -> None:
        """Hold every request to this server for ``seconds`` from now."""
        self._paused_until_ms = max(
            self._paused_until_ms, self.clock.now_ms() + int(seconds * 1000)
        )

    async def _sleep(self, seconds: float) -> None:
        self.stats.waited_s += seconds
        await self.clock.sleep(seconds)

    async def _wait_pause(self) -> None:
        while (left := self._paused_until_ms - self.clock.now_ms()) > 0:
            await self._sleep(left / 1000)

    def _pace(self, headers: Mapping[str, str]) -> None:
        used = headers.get("X-MBX-USED-WEIGHT-1M")
        if self.weight_limit is None or used is None or not used.isdigit():
            return
        if int(used) >= self.weight_limit * self.weight_share:
            self.stats.weight_pauses += 1
            now = self.clock.now_ms()
            self.pause((MINUTE_MS - now % MINUTE_MS + 500) / 1000)

    async def get(
        self,
        path: str,
        on_body: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        params: Mapping[str, str | int] | None = None,
    ) -> T | None:
        """GET ``path``; ``on_body`` reads a 200 answer; None for a 404. Connection
        errors and 5xx are retried with backoff (``Unreachable`` after the last try)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        policy, attempt, rate_waits = self.policy, 0, 0
        while True:
            await self._wait_pause()
            try:
                async with self._slots:
                    return await self._once(url, on_body, params)
            except _RateLimited as limited:
                rate_waits += 1
                if limited.wait_s > policy.longest_wait_s:
                    raise Unreachable(
                        f"{self.option} {self.base_url}: HTTP {limited.status}, asked to wait "
                        f"{limited.wait_s:.0f} s (an IP ban); wait that long, then re-run the "
                        "same command to fetch what is missing"
                    ) from None
                if rate_waits > policy.max_rate_waits:
                    raise HttpStatus(limited.status, "still rate limited") from None
                self.stats.rate_limited += 1
                self.pause(limited.wait_s)
            except (aiohttp.ClientError, TimeoutError, _Transient) as exc:
                attempt += 1
                if attempt >= policy.attempts:
                    if isinstance(exc, _Transient):
                        raise HttpStatus(502, str(exc)) from None
                    reason = str(exc) or type(exc).__name__
                    raise Unreachable(
                        f"{self.option} {self.base_url}: no answer after {attempt} tries "
                        f"({reason}); check the URL and the network, then re-run the same "
                        "command to fetch what is missing"
                    ) from None
                self.stats.retries += 1
                await self._sleep(min(policy.max_s, policy.base_s * 2 ** (attempt - 1)))

    async def _once(
        self,
        url: str,
        on_body: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        params: Mapping[str, str | int] | None,
    ) -> T | None:
        query = {k: str(v) for k, v in params.items()} if params else None
        async with self.session.get(url, params=query) as resp:
            self.stats.requests += 1
            self._pace(resp.headers)
            if resp.status == 200:
                return await on_body(resp)
            if resp.status == 404:
                await resp.read()
                return None
            if resp.status in (418, 429):
                await resp.read()
                raise _RateLimited(resp.status, retry_after_s(resp.headers, self.clock.now_ms()))
            body = await resp.text(errors="replace")
            if resp.status >= 500:
                raise _Transient(f"HTTP {resp.status}")
            raise HttpStatus(resp.status, body)

    async def get_text(self, path: str) -> str | None:
        async def read(resp: aiohttp.ClientResponse) -> str:
            data = await resp.read()
            self.stats.bytes_fetched += len(data)
            return data.decode("utf-8", errors="replace")

        return await self.get(path, read)

    async def get_json(self, path: str, params: Mapping[str, str | int]) -> Any:
        async def read(resp: aiohttp.ClientResponse) -> Any:
            data = await resp.read()
            self.stats.bytes_fetched += len(data)
            try:
                return json.loads(data)
            except ValueError:
                raise HttpStatus(resp.status, "the answer is not JSON") from None

        return await self.get(path, read, params)

    async def to_file(self, path: str, part: Path) -> tuple[str, int] | None:
        """Stream ``path`` into ``part``: (sha256 hex, size), or None for a 404. A
        failed transfer leaves no ``part`` behind."""

        async def write(resp: aiohttp.ClientResponse) -> tuple[str, int]:
            digest, size = hashlib.sha256(), 0
            with part.open("wb") as handle:
                async for chunk in resp.content.iter_any():
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            self.stats.bytes_fetched += size
            return digest.hexdigest(), size

        try:
            return await self.get(path, write)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
