"""``quantum service NAME``: run ONE service of the system as its own process.

It connects to Redis (``QUANTUM_REDIS_URL``) and to the exchange's Binance-compatible
front (``--exchange-url``: the simulated exchange's HTTP server, or any Binance-API
endpoint), builds that one service with the same ``SystemParts`` constructors the
in-process run uses, and runs it until SIGTERM/SIGINT. A loop that ends on its own
exits non-zero, so whatever runs the process (systemd, a container runtime, the chaos
orchestrator) restarts it. ``--follow-clock KEY`` makes the service take market time from
an orchestrator's published clock (stepped accelerated time) instead of the wall clock.

Each process serves its own ``/metrics`` and ``/health`` on ``metrics.host`` and its port
(``metrics.base_port`` + its place in ``config.METRICS_SERVICES``); ``quantum service
metrics`` is the exporter of what lives in Redis and on the exchange, ``quantum service
notifier`` the sender of webhooks and chat messages (it needs no ``--exchange-url``),
``quantum service market-feed`` the feed of closed klines and ``quantum service
dashboard`` the operator's dashboard (no exchange either). Under a systemd unit each
tells it READY / WATCHDOG / STOPPING (``ops/service_run.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import OperationalError

from quantum_trader.bootstrap import system_parts, venue_for
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import Clock, SystemClock
from quantum_trader.config import SERVICE_NAMES, Settings
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.observability.service_metrics import serve_service_metrics
from quantum_trader.ops.market_feed_service import run_market_feed_service
from quantum_trader.ops.metrics_service import run_metrics_service
from quantum_trader.ops.notifier_service import run_notifier_service
from quantum_trader.ops.service_run import run_loops, system_epoch, systemd_notify
from quantum_trader.ops.watchdog_service import run_watchdog_service
from quantum_trader.runtime.follow_clock import FollowClock
from quantum_trader.services.journal import Journal

SERVICES = SERVICE_NAMES  # one list, in config.py
EXPORTER = "metrics"  # what lives in Redis and on the exchange (ops/metrics_service.py)
NOTIFIER = "notifier"  # webhooks and chat messages (ops/notifier_service.py); no exchange
WATCHDOG = "watchdog"  # heartbeats -> the fail-safe (ops/watchdog_service.py); no exchange
MARKET_FEED = "market-feed"  # closed klines -> the market stream (ops/market_feed_service.py)
DASHBOARD = "dashboard"  # the operator's dashboard (ops/dashboard_service.py); no exchange
# every name ``quantum service NAME`` runs, and those that talk to no exchange
ALL_SERVICES = (*SERVICES, EXPORTER, NOTIFIER, WATCHDOG, MARKET_FEED, DASHBOARD)
NO_EXCHANGE = (NOTIFIER, WATCHDOG, DASHBOARD)
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ServiceSetup:
    """Everything one service process needs besides its name: the settings (Redis, key
    namespace, data directory, bus knobs and every trading parameter) and the venue."""

    settings: Settings  # its redis_url is the resolved one
    exchange_url: str
    symbols: tuple[str, ...]
    follow_clock: str | None = None  # Redis key of a published market clock
    run_id: str = ""  # the journal's run id ("" for a long-lived deployment)
    epoch: str = ""  # the state marker its orchestrator established ("": find it here)

    @property
    def redis_url(self) -> str:
        assert self.settings.redis_url, "a service process needs a resolved redis_url"
        return self.settings.redis_url

    def to_json(self) -> dict[str, Any]:
        """For the process that forks services (a pipe on this machine): secrets included;
        not the unit's notify socket (a forked service is not the unit's main process)."""
        plain = self.settings.model_copy(update={"notify_socket": None, "watchdog_usec": None})
        settings = to_jsonable_python(_revealed(plain.model_dump()))
        return {
            "settings": settings,
            "exchange_url": self.exchange_url,
            "symbols": list(self.symbols),
            "follow_clock": self.follow_clock,
            "run_id": self.run_id,
            "epoch": self.epoch,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ServiceSetup:
        return cls(
            settings=Settings(**raw["settings"]),
            exchange_url=raw["exchange_url"],
            symbols=tuple(raw["symbols"]),
            follow_clock=raw["follow_clock"],
            run_id=raw["run_id"],
            epoch=raw.get("epoch", ""),
        )


async def run_service(name: str, setup: ServiceSetup) -> int:
    """Build and run one service; 0 after a requested stop, 1 when a loop died."""
    if name == EXPORTER:
        return await run_metrics_service(setup.settings, setup.exchange_url, SERVICES)
    if name == NOTIFIER:
        return await run_notifier_service(
            setup.settings, (*SERVICES, MARKET_FEED), setup.run_id, setup.follow_clock
        )
    if name == WATCHDOG:
        return await run_watchdog_service(setup.settings, setup.epoch)
    if name == MARKET_FEED:
        return await run_market_feed_service(setup.settings, setup.exchange_url, setup.symbols)
    if name == DASHBOARD:
        from quantum_trader.ops.dashboard_service import run_dashboard_service

        return await run_dashboard_service(setup.settings)
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(ALL_SERVICES)}")
    settings = setup.settings
    redis = master_client(settings, setup.redis_url)
    clock: Clock
    follower: FollowClock | None = None
    if setup.follow_clock:
        follower = FollowClock(redis, setup.follow_clock, name)
        await follower.start()
        clock = follower
    else:
        clock = SystemClock()
    # Only the execution pump reads the user-data stream; nobody else opens one. The
    # keys are the settings' (environment or the unit's credentials), else the sim's.
    exchange = venue_for(
        settings, "sim", base_url=setup.exchange_url, user_stream=name == "execution-pump"
    )
    journal = _journal(settings.data_dir / "journal.sqlite", setup.run_id)
    try:
        await exchange.start()
        instruments = {i.symbol: i for i in await exchange.instruments()}
        bus = Bus(RedisTransport(redis), clock, Keys(settings.key_prefix), settings.stream_maxlen)
        epoch = setup.epoch or await system_epoch(redis, bus.keys, settings, name)
        parts = system_parts(
            settings,
            exchange=exchange,
            bus=bus,
            redis=redis,
            clock=clock,
            instruments=instruments,
            symbols=setup.symbols,
            journal=journal,
            epoch=epoch,
        )
        runtime = parts.build(name)
        runtime.install_signal_handlers()
        served = settings.metrics
        metrics = await serve_service_metrics(name, runtime, parts, served.host, served.port(name))
        try:
            return await run_loops(runtime, name, systemd_notify(settings))
        finally:
            if metrics is not None:
                await metrics.cleanup()
    finally:
        # Bounded: a cleanup that hangs on a dead Redis or exchange must not keep a dead
        # service's process alive (whatever runs it restarts it only once it exits).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_close(follower, exchange, redis), CLOSE_TIMEOUT_S)
        journal.close()


def _revealed(value: Any) -> Any:
    """``value`` with every secret (exchange keys, webhook URLs, the dashboard's signing
    key and password hashes) as its plain text, for a child process to validate again."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(v) for v in value]
    return value


async def _close(
    follower: FollowClock | None, exchange: CcxtBinanceExchange, redis: aioredis.Redis
) -> None:
    if follower is not None:
        await follower.stop()
    await exchange.close()
    await redis.aclose()


def _journal(path: Path, run_id: str) -> Journal:
    try:
        return Journal(f"sqlite:///{path}", run_id=run_id)
    except OperationalError:  # another process created the tables at the same moment
        return Journal(f"sqlite:///{path}", run_id=run_id)


def service_process(name: str, setup: ServiceSetup) -> None:
    """Entry point of a forked/spawned process: run the service, exit with its code."""
    os._exit(asyncio.run(run_service(name, setup)))
