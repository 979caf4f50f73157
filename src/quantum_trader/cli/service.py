"""``quantum service NAME``: one service as its own process (a unit, a container)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from quantum_trader.cli.context import fail, settings
from quantum_trader.infra.connect import NoRedis, resolve_redis_url
from quantum_trader.ops.service_main import (
    ALL_SERVICES,
    DASHBOARD,
    EXPORTER,
    MARKET_FEED,
    NO_EXCHANGE,
    NOTIFIER,
    SERVICES,
    WATCHDOG,
    ServiceSetup,
    run_service,
)


def service_command(
    name: Annotated[
        str,
        typer.Argument(
            help=f"One of: {', '.join(SERVICES)}; or {EXPORTER} (what lives in Redis and on "
            f"the exchange, for Prometheus); {NOTIFIER} (webhooks and chat messages); "
            f"{WATCHDOG} (heartbeats -> REDUCE_ONLY when an exit-path service is silent); "
            f"{MARKET_FEED} (closed klines -> the market stream, each once); or {DASHBOARD} "
            "(the operator's dashboard, as dashboard.* configure it)."
        ),
    ],
    exchange_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of the Binance-compatible exchange front "
            f"(not for {', '.join(NO_EXCHANGE)})."
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma list of symbols to trade (default: the configured universe)."),
    ] = None,
    strategies: Annotated[
        str | None,
        typer.Option(help="Comma list of strategies (default: the configured ones)."),
    ] = None,
    follow_clock: Annotated[
        str | None,
        typer.Option(help="Take market time from this Redis key (stepped runs)."),
    ] = None,
) -> None:
    """Run one service as its own process (systemd unit, container, chaos run); each
    serves /metrics and /health on its port (metrics.base_port + its place)."""
    overrides: dict[str, Any] = {}
    if symbols is not None:
        overrides["trading_symbols"] = symbols
    if strategies is not None:
        overrides["strategies"] = {"names": [x.strip() for x in strategies.split(",") if x]}
    if name not in ALL_SERVICES:
        raise fail(f"unknown service {name!r}; one of: {', '.join(ALL_SERVICES)}")
    if exchange_url is None and name not in NO_EXCHANGE:
        raise fail(f"quantum service {name} needs --exchange-url")
    s = settings(**overrides)
    try:
        url = resolve_redis_url(s)
    except NoRedis as exc:
        raise fail(str(exc)) from None
    setup = ServiceSetup(
        settings=s.model_copy(update={"redis_url": url}),
        exchange_url=exchange_url or "",
        symbols=s.trading_symbols,
        follow_clock=follow_clock,
    )
    try:
        code = asyncio.run(run_service(name, setup))
    except ValueError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)
