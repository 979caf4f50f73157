"""``quantum service market-feed``: the market feed as its own process.

It polls the exchange's klines (``--exchange-url``, through the ccxt adapter) for the
configured symbols and publishes each closed bar once on ``quantum:stream:market``
(``ops/kline_feed.py``, the same feed ``quantum run`` runs in real time). At start it
reads back the last bar of each symbol already on the stream, so a restarted feed goes on
from there: no bar twice, none skipped. Its time is the venue's (``VenueClock``, re-read
at each poll): Binance's is the wall clock, a replaying simulator's is its market's.

It heartbeats (``quantum:health:market-feed``) like every service, serves ``/metrics``
and ``/health`` on its port (``metrics.base_port`` + its place in ``METRICS_SERVICES``),
tells its systemd unit READY / WATCHDOG / STOPPING, and exits non-zero when its loop dies
(exit 2: none of the symbols trades on the exchange).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from quantum_trader.bootstrap import venue_for
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import VenueClock
from quantum_trader.config import Settings
from quantum_trader.data import interval_ms
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.observability.families import build_info
from quantum_trader.observability.service_metrics import serve_collector
from quantum_trader.ops.kline_feed import KlineFeed
from quantum_trader.ops.service_run import run_loops, systemd_notify
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime

NAME = "market-feed"
POLL_S = 5.0  # as `quantum run`'s real-time feed: a closed bar is out within 5 s
CLOSE_TIMEOUT_S = 5.0


async def run_market_feed_service(
    settings: Settings, exchange_url: str, symbols: Sequence[str]
) -> int:
    """Feed until SIGTERM / SIGINT: 0 then, 1 when its loop died, 2 without a symbol.
    ``settings.redis_url`` is the resolved one."""
    assert settings.redis_url, "the market feed needs a resolved redis_url"
    redis = master_client(settings)
    exchange = venue_for(settings, "sim", base_url=exchange_url, user_stream=False)
    try:
        await exchange.start()
        listed = {i.symbol for i in await exchange.instruments()}
        traded = tuple(s for s in symbols if s in listed)
        if not traded:
            print(f"{NAME}: none of {', '.join(symbols)} trades on {exchange_url}", flush=True)
            return 2
        clock = VenueClock(exchange.server_time)
        await clock.sync()
        bus = Bus(RedisTransport(redis), clock, Keys(settings.key_prefix), settings.stream_maxlen)
        feed = KlineFeed(
            exchange, bus, RedisEffectStore(redis, bus.keys), clock, traded,
            settings.strategies.interval,
        )  # fmt: skip
        await feed.resume()

        async def poll() -> None:
            await clock.sync()
            await feed.poll()

        runtime = ServiceRuntime(
            NAME,
            clock,
            bus.keys,
            RedisHealthWriter(redis),
            jobs=[PeriodicJob("klines", POLL_S, poll)],
            heartbeat_interval_s=settings.heartbeat_interval_ms / 1000,
            heartbeat_ttl_ms=settings.heartbeat_ttl_ms,
        )
        runtime.install_signal_handlers()
        metrics = await serve_feed_metrics(
            FeedCollector(runtime, feed), settings.metrics.host, settings.metrics.port(NAME)
        )
        try:
            return await run_loops(runtime, NAME, systemd_notify(settings))
        finally:
            if metrics is not None:
                await metrics.cleanup()
    except Exception as exc:  # the exchange or Redis at start: one line, and a restart
        print(f"{NAME}: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_close(exchange, redis), CLOSE_TIMEOUT_S)


async def _close(exchange: CcxtBinanceExchange, redis: aioredis.Redis) -> None:
    await exchange.close()
    await redis.aclose()


class FeedCollector:
    """What only the feed knows: whether its loops run, the bars it published, and how
    old each symbol's last published bar is in market time (a feed that polls but
    publishes nothing is stale here before any consumer notices)."""

    def __init__(self, runtime: ServiceRuntime, feed: KlineFeed) -> None:
        self.runtime, self.feed = runtime, feed

    def collect(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "quantum_service_running", "1: the service's loops are running", labels=["service"]
        )
        running.add_metric([NAME], 1.0 if self.runtime.status == "running" else 0.0)
        yield running
        published = CounterMetricFamily(
            "quantum_feed_bars_published", "Closed bars this process published", labels=[]
        )
        published.add_metric([], self.feed.published)
        yield published
        age = GaugeMetricFamily(
            "quantum_feed_bar_age_seconds",
            "Market seconds since the close of the last bar published, per symbol",
            labels=["symbol"],
        )
        now, span = self.feed.clock.now_ms(), interval_ms(self.feed.interval)
        for symbol, opened in sorted(self.feed.last_open.items()):
            age.add_metric([symbol], max(0, now - (opened + span)) / 1000)
        yield age
        yield build_info(NAME)

    def health(self) -> tuple[dict[str, Any], bool]:
        ok = self.runtime.status == "running"
        body: dict[str, object] = {
            "ok": ok,
            "service": NAME,
            "status": self.runtime.status,
            "instance": self.runtime.instance,
            "pid": os.getpid(),
            "bars_published": self.feed.published,
        }
        return body, ok


async def serve_feed_metrics(
    collector: FeedCollector, host: str, port: int
) -> web.AppRunner | None:
    """``/metrics`` and ``/health`` on ``host:port`` (0: none; one that cannot be bound
    is logged and the feed runs on — its scrape target being down is the alert)."""
    if not port:
        return None
    return await serve_collector(NAME, collector, host, port)
