"""``quantum service metrics``: the exporter of what lives in Redis and on the exchange.

Heartbeats and restarts of every service, the consumer groups' lag and pending entries,
dead letters, the risk mode and its reasons, kill switch, breaker, fail-safe and state
marker, positions (and how long any has gone without a covering stop), equity and
exposure against the risk guard's limits, reconcile repairs, exit latencies, the
exchange's request weight and the model in service — on ``metrics.host`` and the
``metrics`` port. It places no order and writes nothing: two of them are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

import redis.asyncio as aioredis

from quantum_trader.bootstrap import venue_for
from quantum_trader.bus.keys import Keys
from quantum_trader.config import Settings
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.observability.exchange_view import ExchangeView
from quantum_trader.observability.metrics import serve_metrics
from quantum_trader.observability.metrics_redis import RedisCollector
from quantum_trader.ops.service_run import keep_alive, systemd_notify

NAME = "metrics"


async def run_metrics_service(
    settings: Settings, exchange_url: str, services: Sequence[str]
) -> int:
    """Serve until SIGTERM / SIGINT; 0 then, 2 when there is no port to serve on.
    ``settings.redis_url`` is the resolved one."""
    assert settings.redis_url, "the metrics service needs a resolved redis_url"
    port = settings.metrics.port(NAME)
    if not port:
        print(f"{NAME}: no port (metrics.base_port or metrics.ports.{NAME} is 0)", flush=True)
        return 2
    redis = master_client(settings)
    exchange = venue_for(settings, "sim", base_url=exchange_url, user_stream=False)
    collector = RedisCollector(
        redis,
        Keys(settings.key_prefix),
        services,
        exchange=ExchangeView(exchange, settings.risk, settings.metrics.exchange_refresh_s),
        heartbeat_ttl_ms=settings.heartbeat_ttl_ms,
        limits=settings.risk,
        psi_limit=settings.model.drift.psi_limit,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        runner = await serve_metrics(collector, port, settings.metrics.host)
    except OSError as exc:  # this process exists to serve: without its port it exits
        print(f"{NAME}: cannot serve on {settings.metrics.host}:{port}: {exc}", flush=True)
        await _close(exchange, redis)
        return 1
    try:
        # its systemd unit (if any): ready once it serves, then alive while its loop turns
        unit = systemd_notify(settings)
        await keep_alive(unit, NAME, settings.heartbeat_interval_ms / 1000, stop, _serving)
    finally:
        await runner.cleanup()
        await _close(exchange, redis)
    return 0


async def _serving() -> bool:
    return True  # the scrapes are served by this event loop: that it runs is the proof


async def _close(exchange: CcxtBinanceExchange, redis: aioredis.Redis) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(exchange.close(), 5)
    with contextlib.suppress(Exception):
        await redis.aclose()
