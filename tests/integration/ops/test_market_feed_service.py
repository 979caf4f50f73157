"""``quantum service market-feed``: each closed bar on the market stream exactly once,
whatever restarts — a feed that comes back publishes the bars that closed while it was
down and none it had published — with a heartbeat, /metrics and /health, and a non-zero
exit when it cannot run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD, RedisTransport
from quantum_trader.bus.schemas import MarketBar
from quantum_trader.clock import SimClock
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops import kline_feed
from quantum_trader.ops.kline_feed import KlineFeed
from tests.integration.ops.run_process import start, stop

T0 = 1_704_067_200_000
MINUTE = 60_000


def bars_until(sim: SimExchange, first: int, last: int, symbols: tuple[str, ...]) -> None:
    for n in range(first, last + 1):
        for k, symbol in enumerate(symbols):
            price = Decimal(60_000 + 10 * n) / (k + 1)
            sim.on_bar(symbol, T0 + n * MINUTE, price, price + 5, price - 5, price, Decimal(1))


async def published(redis: aioredis.Redis, keys: Keys) -> list[tuple[str, int]]:
    """(symbol, bar index) of every bar on the market stream, in order."""
    out = []
    for _, fields in await redis.xrange(keys.market):
        bar = decode(fields[FIELD])
        assert isinstance(bar, MarketBar)
        out.append((bar.symbol, (bar.open_time - T0) // MINUTE))
    return out


async def test_a_restarted_feed_publishes_every_bar_it_missed_and_none_twice(
    redis_client: aioredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kline_feed, "RESUME_PAGE", 3)  # read back over several pages
    symbols = ("BTCUSDT", "ETHUSDT")
    clock = SimClock(T0)
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0), clock=clock)
    bus = Bus(RedisTransport(redis_client), clock, keys)

    def feed() -> KlineFeed:  # a new process: nothing remembered but what Redis holds
        effects = RedisEffectStore(redis_client, keys)
        return KlineFeed(sim, bus, effects, clock, symbols, "1m")  # type: ignore[arg-type]

    bars_until(sim, 0, 3, symbols)
    clock.set(T0 + 3 * MINUTE + 1)  # bars 0-2 closed, 3 forming
    first = feed()
    assert await first.resume() == {}  # a first start: nothing on the stream yet
    await first.poll()
    assert await published(redis_client, keys) == [
        ("BTCUSDT", 1), ("BTCUSDT", 2), ("ETHUSDT", 1), ("ETHUSDT", 2),
    ]  # fmt: skip

    again = feed()  # restarted within the same bar: nothing new, nothing twice
    assert await again.resume() == {s: T0 + 2 * MINUTE for s in symbols}
    await again.poll()
    assert again.published == 0

    bars_until(sim, 4, 11, symbols)
    clock.set(T0 + 11 * MINUTE + 1)  # down while eight more bars closed
    later = feed()
    await later.resume()
    await later.poll()
    assert later.published == 16
    bars = await published(redis_client, keys)
    for symbol in symbols:
        assert [n for s, n in bars if s == symbol] == list(range(1, 11))  # each once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGTERM and its exit, waited for off the event loop (which serves the venue)."""
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    return proc.returncode, out, err


async def until(what: str, check: object, proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # bounded: 60 s of polling another process
        if await check():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            raise AssertionError(f"the feed exited ({proc.returncode}): {stop(proc)}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within 60 s: {what}: {stop(proc)}")


async def test_the_feed_process_beats_serves_metrics_and_goes_on_after_a_restart(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis, keys: Keys, tmp_path: Path
) -> None:
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0))
    bars_until(sim, 0, 4, ("BTCUSDT",))  # the venue's clock: bar 4's open (it forms)
    server = SimHttpServer(sim)
    url = await server.start()
    port = free_port()
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": keys.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_TRADING_SYMBOLS": "BTCUSDT",
        "QUANTUM_METRICS__PORTS": json.dumps({"market-feed": port}),
    }
    command = ["service", "market-feed", "--exchange-url", url]

    async def count_is(n: int) -> bool:
        return int(await redis_client.xlen(keys.market)) >= n

    try:
        proc = start(command, env, tmp_path)
        try:
            await until("two closed bars", lambda: count_is(2), proc)
            beats = keys.health("market-feed")
            await until("its heartbeat", lambda: redis_client.exists(beats), proc)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/health") as reply:
                    health = await reply.json()
                    assert reply.status == 200 and health["ok"], health
                async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                    metrics = await reply.text()
            assert 'quantum_service_running{service="market-feed"} 1.0' in metrics
            assert "quantum_feed_bars_published_total 2.0" in metrics
            assert 'quantum_feed_bar_age_seconds{symbol="BTCUSDT"}' in metrics
            code, out, err = await finished(proc)
            assert code == 0, (out, err)
        finally:
            stop(proc)
        assert await published(redis_client, keys) == [("BTCUSDT", 2), ("BTCUSDT", 3)]

        bars_until(sim, 5, 9, ("BTCUSDT",))  # five bars closed while it was down
        proc = start(command, env, tmp_path)
        try:
            await until("the bars it missed", lambda: count_is(7), proc)
            code, out, err = await finished(proc)
            assert code == 0, (out, err)
        finally:
            stop(proc)
        assert await published(redis_client, keys) == [("BTCUSDT", n) for n in range(2, 9)]
    finally:
        await server.stop()


def test_a_feed_that_cannot_run_exits_non_zero_with_one_line(
    redis_server: EmbeddedRedis, keys: Keys, tmp_path: Path
) -> None:
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": keys.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_METRICS__BASE_PORT": "0",
    }
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: the venue is down
    proc = start(["service", "market-feed", "--exchange-url", nowhere], env, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert out.strip().startswith("market-feed: ") and len(out.strip().splitlines()) == 1
