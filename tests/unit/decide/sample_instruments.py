"""Instruments with Binance-like filters for decide/ tests (BTCUSDT and a cheap coin)."""

from __future__ import annotations

from decimal import Decimal as D

from quantum_trader.domain.instruments import Instrument, LeverageBracket


def _brackets(*tiers: tuple[int, str, str]) -> tuple[LeverageBracket, ...]:
    return tuple(
        LeverageBracket(n, lev, D(floor), D(cap), D("0.01"), D(0))
        for n, (lev, floor, cap) in enumerate(tiers, start=1)
    )


BTCUSDT = Instrument(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.1"),
    min_price=D("0.1"),
    max_price=D("1000000"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    market_step_size=D("0.001"),
    market_min_qty=D("0.001"),
    market_max_qty=D("120"),
    min_notional=D("100"),
    brackets=_brackets(
        (125, "0", "50000"),
        (50, "50000", "250000"),
        (20, "250000", "1000000"),
        (10, "1000000", "5000000"),
    ),
    price_precision=1,
    quantity_precision=3,
)

DOGEUSDT = Instrument(
    symbol="DOGEUSDT",
    base_asset="DOGE",
    quote_asset="USDT",
    tick_size=D("0.00001"),
    min_price=D("0.00001"),
    max_price=D("30"),
    step_size=D("1"),
    min_qty=D("1"),
    max_qty=D("50000000"),
    market_step_size=D("1"),
    market_min_qty=D("1"),
    market_max_qty=D("30000000"),
    min_notional=D("5"),
    brackets=_brackets((50, "0", "5000"), (25, "5000", "50000"), (10, "50000", "500000")),
    price_precision=5,
    quantity_precision=0,
)

INSTRUMENTS = {i.symbol: i for i in (BTCUSDT, DOGEUSDT)}
