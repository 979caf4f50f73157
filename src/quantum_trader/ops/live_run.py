"""``quantum run --mode demo|live`` (and ``--mode sim`` against a running
``quantum sim-exchange serve``): the services in real time against an exchange through
the ccxt adapter.

A startup self-check names the mode, endpoint and account before anything trades. The
market feed (``ops/kline_feed.py``, also ``quantum service market-feed``) polls the
exchange's klines and publishes each closed bar once (its message id is derived from the
bar, and publication is an idempotent effect), so a restart never feeds a bar twice.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import redis.asyncio as aioredis

from quantum_trader.alerting.notify_service import notifier_specs
from quantum_trader.bootstrap import system_parts, venue_for
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import Clock, SystemClock, VenueClock
from quantum_trader.config import Settings
from quantum_trader.decide.account_check import account_problems, foreign_orders
from quantum_trader.domain.money import fmt
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.infra import data_dir
from quantum_trader.infra.redis_checks import check_redis
from quantum_trader.infra.redis_target import redis_for
from quantum_trader.observability.metrics import SystemCollector, serve_metrics
from quantum_trader.ops.kline_feed import KlineFeed
from quantum_trader.runtime.safety_state import (
    ForeignState,
    SafetyStore,
    StateGuard,
    establish_epoch,
)
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.journal import Journal
from quantum_trader.services.model_serving import models_served
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime


@dataclass
class LiveRunConfig:
    mode: Literal["sim", "demo", "live"]
    symbols: tuple[str, ...]
    hours: float | None = None  # wall-clock hours; None: until SIGINT / SIGTERM
    exchange_url: str | None = None  # sim mode: the front's base URL
    i_understand_live: bool = False
    poll_s: float = 5.0
    panic_flatten_after_s: float | None = None  # off by default
    metrics_port: int = 0  # 0: no /metrics and /health endpoint
    cancel_foreign_orders: bool = False  # cancel open orders this system did not place


async def run_live(
    settings: Settings,
    config: LiveRunConfig,
    say: Callable[[str], None] = print,
    until: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Run until ``config.hours`` pass, a signal arrives, or ``until`` returns."""
    exchange = venue_for(
        settings,
        config.mode,
        base_url=config.exchange_url or "http://127.0.0.1:8765",
        i_understand_live=config.i_understand_live,
    )
    await exchange.start()
    try:
        check = await exchange.self_check()
        say(
            f"self-check: mode {config.mode}, endpoint {check.get('endpoint')}, "
            f"account {check.get('position_mode', '?')} / {check.get('margin_modes', '?')}, "
            f"balance {check.get('wallet_balance', '?')} USDT "
            f"(available {check.get('available_balance', '?')})"
        )
        await refuse_a_hostile_account(exchange, check, config, say)
        run_id = data_dir.new_run_id()
        with data_dir.hold(
            settings.data_dir,
            command=f"quantum run --mode {config.mode}",
            run_id=run_id,
            key_prefix=settings.key_prefix,
        ):
            async with redis_for(settings) as redis:
                result = await _trade(settings, config, exchange, redis, until, run_id, say)
        start = _decimal_or_none(check.get("wallet_balance"))
        end = await exchange.account()
        realized, fees = Decimal(result.pop("realized_pnl")), Decimal(result.pop("fees"))
        return {
            **result,
            "starting_balance": fmt(start) if start is not None else None,
            "ending_equity": fmt(end.equity),
            "realized_pnl": fmt(realized),
            "fees": fmt(fees),
            "funding": None,  # not journalled in real time: see the exchange's income history
            "net_pnl": fmt(realized - fees),
        }
    finally:
        await exchange.close()


async def _trade(
    settings: Settings,
    config: LiveRunConfig,
    exchange: CcxtBinanceExchange,
    redis: aioredis.Redis,
    until: Callable[[], Awaitable[None]] | None,
    run_id: str,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    # Against a simulator the market's time is the venue's (a replay runs in its past);
    # Binance's serverTime is the wall clock, which the system clock already is.
    venue_clock = VenueClock(exchange.server_time) if config.mode == "sim" else None
    clock: Clock = venue_clock or SystemClock()
    if venue_clock is not None:
        await venue_clock.sync()
    bus = Bus(RedisTransport(redis), clock, Keys(settings.key_prefix), settings.stream_maxlen)
    instruments = {i.symbol: i for i in await exchange.instruments()}
    symbols = tuple(s for s in config.symbols if s in instruments)
    if not symbols:
        raise ValueError("none of the configured symbols trades on this exchange")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await check_redis(redis, config.mode in ("demo", "live"), say)
    store = SafetyStore(settings.data_dir, bus.keys.prefix)
    try:
        epoch, lost = await establish_epoch(redis, bus.keys, store, run_id)
    except ForeignState as exc:
        raise ValueError(str(exc)) from None
    if lost:
        say(
            "Redis lost this system's state: entries are halted (exits go on) until a "
            "reconcile round and `quantum state confirm`"
        )
    parts = system_parts(
        settings,
        exchange=exchange,
        bus=bus,
        redis=redis,
        clock=clock,
        instruments=instruments,
        symbols=symbols,
        journal=Journal(f"sqlite:///{settings.data_dir / 'journal.sqlite'}", run_id=run_id),
        epoch=epoch,
    )
    feed = KlineFeed(
        exchange,
        bus,
        RedisEffectStore(redis, bus.keys),
        clock,
        symbols,
        settings.strategies.interval,
    )

    async def poll() -> None:
        if venue_clock is not None:
            await venue_clock.sync()
        await feed.poll()

    def feed_runtime() -> ServiceRuntime:
        return ServiceRuntime(
            "market-feed",
            clock,
            bus.keys,
            RedisHealthWriter(redis),
            jobs=[PeriodicJob("klines", config.poll_s, poll)],
        )

    await parts.monitor().reconcile_once()  # before the apply layer takes any plan
    supervisor = Supervisor(
        [
            *parts.specs(),
            ServiceSpec("market-feed", feed_runtime),
            *notifier_specs(parts, ["market-feed"]),  # the notifier: when targets are set
        ],
        redis,
        bus,
        panic_flatten_after_s=config.panic_flatten_after_s,
        flatten=parts.flatten,
        guard=StateGuard(redis, bus, store, epoch),
    )
    task = asyncio.create_task(supervisor.run())
    metrics = None
    if config.metrics_port:
        metrics = await serve_metrics(SystemCollector(parts, supervisor), config.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if sys.platform != "win32":  # no asyncio signal handlers there
            loop.add_signal_handler(sig, stop.set)
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if config.hours is not None:
        waiters.append(asyncio.create_task(asyncio.sleep(config.hours * 3600)))
    if until is not None:
        waiters.append(asyncio.ensure_future(until()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        supervisor.stop()
        await task
        if metrics is not None:
            await metrics.cleanup()
    harvest = parts.journal.harvest_metrics()
    parts.journal.close()
    models = await models_served(redis, bus.keys)
    return {
        "run_id": run_id,
        "mode": config.mode,
        "symbols": list(symbols),
        "bars_published": feed.published,
        "closed_trades": harvest.trades,
        "exits_by_reason": harvest.closes_by_reason,
        "restarts": supervisor.restarts,
        "realized_pnl": str(harvest.realized_pnl),
        "fees": str(harvest.fees),
        "models": models,  # the signal models that went live, in order (model strategy)
    }


async def refuse_a_hostile_account(
    exchange: CcxtBinanceExchange,
    check: dict[str, Any],
    config: LiveRunConfig,
    say: Callable[[str], None],
) -> None:
    """Stop before trading an account the system cannot trade safely (one line each)."""
    foreign = foreign_orders(await exchange.open_orders(), config.symbols)
    if foreign and config.cancel_foreign_orders:
        for order in foreign:
            await exchange.cancel_order(order.symbol, order.client_order_id)
            say(f"cancelled foreign order {order.symbol} {order.client_order_id}")
        foreign = []
    problems = account_problems(check, foreign)
    if problems:
        raise ValueError("account refused: " + "; ".join(problems))


def _decimal_or_none(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except ArithmeticError:
        return None
