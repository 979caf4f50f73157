"""Benchmark: scoring one bar of a 400-symbol universe with a trained model.

Per bar: the universe's incremental feature state takes every symbol's closed bar in one
pass (``UniverseFeatureState.update_rows``: O(1) per symbol, one numpy walk of the
feature plan for all of them, equal to each symbol's own ``FeatureState``); then the
bar's cross-section (``cross_section_matrix``, what ``cross_section_at`` computes); then
one batched predict per head with calibration (``ModelScorer.probabilities``) and the
entry rule (``entry_sides``). That is what scoring a bar costs the signal model. The
baseline, timed in the same run on the same batch, is LightGBM's bare
``Booster.predict`` of both heads.

The model is a real fit: both heads trained with the default settings on a planted-edge
synthetic market, so its trees are as deep and as many as early stopping leaves them.
The 400 symbols are synthetic series with their own seeds, warmed up with 1,500 bars
each so every feature window is full. Target: p99 ≤ 10 ms on one core (``num_threads``
1). Ends with the JSON line of bench/_common.py ``report()``.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import numpy as np
from _common import report

from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.symbols import SymbolSpec
from quantum_trader.features.cross_section import cross_section_matrix
from quantum_trader.features.universe import UniverseFeatureState
from quantum_trader.model.dataset import atr_column, build_dataset
from quantum_trader.model.evaluate import final_fit
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.scorer import ModelScorer, entry_sides
from quantum_trader.model.train import TrainConfig

WARMUP = 1_500


def trained_model() -> tuple[ModelScorer, BarrierConfig]:
    market = generate_market(
        ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
        10 * 1440,
        MarketConfig(seed=3, planted_drift=0.2),
    )
    barrier = BarrierConfig()
    data = build_dataset(list(market.bars.values()), barrier)
    fit = final_fit(data, TrainConfig(num_threads=1))
    return fit.scorer, barrier


def universe(symbols: int, bars: int) -> dict[str, list[tuple[float, ...]]]:
    specs = {
        f"S{k:03d}USDT": SymbolSpec(f"S{k:03d}USDT", Decimal(100 + k), Decimal("0.01"))
        for k in range(symbols)
    }
    market = generate_market(specs, bars, MarketConfig(seed=9))
    return {
        name: list(zip(s.open_time.tolist(), s.open.tolist(), s.high.tolist(), s.low.tolist(),
                       s.close.tolist(), s.volume.tolist(), strict=True))
        for name, s in market.bars.items()
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--bars", type=int, default=300, help="bars timed")
    args = parser.parse_args()
    scorer, barrier = trained_model()
    series = universe(args.symbols, WARMUP + args.bars)
    names = list(series)
    state = UniverseFeatureState(names, "1m")

    everyone = np.arange(len(names), dtype=np.int64)

    def bars_at(i: int) -> tuple[int, np.ndarray]:
        t = int(series[names[0]][i][0])
        return t, np.array([(*series[n][i][1:], float("nan")) for n in names])

    for i in range(WARMUP):
        t, bars = bars_at(i)
        state.update_rows(t, everyone, bars)
    atr_index = scorer.names.index(atr_column())
    ours, bare = [], []
    for i in range(WARMUP, WARMUP + args.bars):
        t, bars = bars_at(i)
        started = time.perf_counter()
        own = state.update_rows(t, everyone, bars)
        batch = np.hstack([own, cross_section_matrix(own, state.names)])
        times = np.full(len(batch), t, np.int64)
        p_long, p_short = scorer.probabilities(batch, times)
        entry_sides(p_long, p_short, batch[:, atr_index], barrier, 0.0012)
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for booster in scorer.boosters.values():
            booster.predict(batch, num_threads=1)
        bare.append((time.perf_counter() - started) * 1000)
    p50, p99 = np.percentile(ours, [50, 99])
    b50, b99 = np.percentile(bare, [50, 99])
    trees = {head: booster.num_trees() for head, booster in scorer.boosters.items()}
    print(f"{args.symbols} symbols, {args.bars} bars, trees per head {trees}")
    print(f"features + batched predict: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"bare LightGBM predict:      p50 {b50:.2f} ms, p99 {b99:.2f} ms")
    report(
        "model_latency", float(p99), float(b99), "ms p99 per bar",
        p50_ms=round(float(p50), 3), bare_p50_ms=round(float(b50), 3), symbols=args.symbols,
        features=len(scorer.names), trees=trees, target_p99_ms=10.0, met=bool(p99 <= 10.0),
    )  # fmt: skip


if __name__ == "__main__":
    main()
