"""Benchmark: simulated exchange bar updates/s and market orders/s.

20 symbols, each with an open position guarded by a closePosition stop far below the
market (20 resting conditional orders), fed random-walk 1m bars on the tick. The
baseline is the least work any bar-driven simulator must do per bar: compare the bar's
high and low (floats) against the 20 trigger levels. Prints both rates and ends with one
JSON line.
"""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import MatchingCore, SimConfig, default_universe

BARS = 200_000
ORDERS = 20_000
START_MS = 1_700_000_000_000


def make_bars(
    symbols: list[str], count: int
) -> list[tuple[str, int, Decimal, Decimal, Decimal, Decimal]]:
    universe = default_universe()
    rng = random.Random(42)
    ticks = {s: 100_000 for s in symbols}
    bars = []
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        tick = universe[symbol].tick_size
        o = ticks[symbol]
        c = max(1_000, o + rng.randint(-30, 30))
        h = max(o, c) + rng.randint(0, 20)
        low = min(o, c) - rng.randint(0, 20)
        ticks[symbol] = c
        t = START_MS + (i // len(symbols)) * 60_000
        bars.append((symbol, t, o * tick, h * tick, low * tick, c * tick))
    return bars


def setup_core(symbols: list[str]) -> MatchingCore:
    core = MatchingCore(
        config=SimConfig(starting_balance=Decimal(10_000_000), kline_history=0),
        seed=1,
        start_ms=START_MS,
    )
    for n, symbol in enumerate(symbols):
        inst = core.instrument(symbol)
        price = 100_000 * inst.tick_size
        core.set_price(symbol, price)
        qty = max(inst.min_qty, inst.round_qty_down(Decimal(200) / price) + inst.step_size)
        core.submit(OrderRequest(symbol, Side.BUY, OrderType.MARKET, f"open-{n}", qty))
        core.submit(
            OrderRequest(
                symbol,
                Side.SELL,
                OrderType.STOP_MARKET,
                f"stop-{n}",
                stop_price=50_000 * inst.tick_size,
                close_position=True,
            )
        )
    core.drain_events()
    return core


def bench_bars(
    core: MatchingCore, bars: list[tuple[str, int, Decimal, Decimal, Decimal, Decimal]]
) -> float:
    on_bar = core.on_bar
    started = time.perf_counter()
    for symbol, t, o, h, low, c in bars:
        on_bar(symbol, t, o, h, low, c)
    return len(bars) / (time.perf_counter() - started)


def bench_baseline(bars: list[tuple[str, int, Decimal, Decimal, Decimal, Decimal]]) -> float:
    levels = [float(50_000 * default_universe()["BTCUSDT"].tick_size)] * 20
    floats = [(s, t, float(o), float(h), float(low), float(c)) for s, t, o, h, low, c in bars]
    last: dict[str, float] = {}
    hits = 0
    started = time.perf_counter()
    for symbol, _t, _o, h, low, c in floats:
        for level in levels:
            if low <= level <= h:
                hits += 1
        last[symbol] = c
    return len(floats) / (time.perf_counter() - started)


def bench_orders(symbols: list[str]) -> float:
    core = setup_core(symbols)
    started = time.perf_counter()
    for i in range(ORDERS):
        symbol = symbols[i % len(symbols)]
        side = Side.BUY if (i // len(symbols)) % 2 else Side.SELL
        inst = core.instrument(symbol)
        qty = max(inst.min_qty, inst.round_qty_down(Decimal(200) / core.last_price(symbol)))
        qty += inst.step_size
        core.submit(OrderRequest(symbol, side, OrderType.MARKET, f"m-{i}", qty))
        if i % 256 == 0:
            core.drain_events()
    return ORDERS / (time.perf_counter() - started)


def main() -> None:
    symbols = sorted(default_universe())[:20]
    bars = make_bars(symbols, BARS)
    core = setup_core(symbols)
    bar_rate = bench_bars(core, bars)
    baseline = bench_baseline(bars)
    order_rate = bench_orders(symbols)
    open_stops = len(core.open_orders())
    print(f"bar updates/s: {bar_rate:,.0f} (20 symbols, {open_stops} resting stops)")
    print(f"baseline (float compare vs 20 levels)/s: {baseline:,.0f}")
    print(f"market orders/s: {order_rate:,.0f}")
    print(
        json.dumps(
            {
                "bench": "sim_exchange",
                "ours": round(bar_rate),
                "baseline": round(baseline),
                "ratio": round(bar_rate / baseline, 3),
                "unit": "bar_updates/s",
                "bar_updates_per_s": round(bar_rate),
                "orders_per_s": round(order_rate),
            }
        )
    )


if __name__ == "__main__":
    main()
