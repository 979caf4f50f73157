"""Benchmark: backtest speed (bars/s) of the one engine against backtesting.py.

Workload: ``ref_ema_cross`` (bench/REFERENCE_STRATEGY.md) on 525,600 synthetic 1 m bars.
Four implementations run in this one process tree, on the same bars:

* ours, reference rules: :func:`quantum_trader.backtest.engine.run_engine` with the
  rules ``ref_ema_cross`` declares (full-equity entries through intent admission and the
  entry gate, a stop and a target as exchange orders on the simulator's matching core,
  the ledger, the trade log) — ``ref_bars_per_s``;
* ours, system rules: the same EMA-cross entries with the default sizing, exit brain
  (harvest ladder, break-even and trailing stops, kill score, time stop), risk guard and
  gate — what a user's run does — ``system_bars_per_s``;
* a plain Python/numpy per-bar loop written here from the document alone — the
  correctness baseline: the engine's trade list must equal it (entry bar, exit bar,
  prices, reasons) for the document's 2 % / 3 % stops and for tight 0.2 % / 0.3 % ones;
* backtesting.py, installed into the benchmark's own virtualenv (never a project
  dependency) and run in a subprocess that sends its trades and timing back as JSON.
  If it cannot be installed, its figures are ``null`` and the reason is printed.

backtesting.py configuration, chosen to reproduce the rules: ``trade_on_close=False``
(market orders fill at the next open), ``exclusive_orders=True``, ``commission=0.0004``,
``spread=0``, SL/TP set on the order from the next bar's open (the entry price), which
backtesting.py checks on the entry bar too and orders stop before target; huge cash so
its whole-unit sizing is effectively continuous; ``finalize_trades=True`` with one flat
bar appended at the last close so the end-of-data close happens at that close. Known
difference: a stop or target gapped through fills at the open there, at the level here.

Every implementation is timed as the best of ``RUNS`` runs in this one process tree, so
the ratios compare like with like on a shared machine. ``--universe`` also times the
engine with the default strategies (``strategies.names``: trend_ema, breakout and
mean_reversion traded together) and rules on 20 symbols × 1 year of 1 m bars, and
``trend_ema`` alone on the same bars. Ends with the JSON line of bench/_common.py
``report()``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import run_engine
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.data import BarSeries, MarketConfig, generate_bars

BARS = 525_600
FEE = 0.0004
CASH = 100_000.0
STOPS = ((0.02, 0.03), (0.002, 0.003))
RUNS = 2  # every timed implementation: the best of this many runs (the machine is shared)
PEER_ENV = Path(os.environ.get("QT_BENCH_PEER_VENV", Path(tempfile.gettempdir()) / "qt-bench-peer"))

Trip = tuple[int, int, float, float, str]  # entry bar, exit bar, entry, exit, reason


def numpy_reference(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, stop: float, target: float
) -> list[Trip]:
    """The document, read literally: one Python pass over the bars."""
    closes = c.tolist()
    opens, highs, lows = o.tolist(), h.tolist(), lo.tolist()
    n = len(closes)
    d = [0.0] * n
    fast = slow = closes[0]
    a_fast, a_slow = 2.0 / 13.0, 2.0 / 27.0
    for t, x in enumerate(closes):
        fast = fast + a_fast * (x - fast)
        slow = slow + a_slow * (x - slow)
        d[t] = fast - slow
    trips: list[Trip] = []
    pending: str | None = None
    entry_bar, entry, sl, tp = -1, 0.0, 0.0, 0.0
    long = False
    for t in range(n):
        if pending == "buy":
            long, entry_bar, entry = True, t, opens[t]
            sl, tp = entry * (1.0 - stop), entry * (1.0 + target)
        elif pending == "sell":
            long = False
            trips.append((entry_bar, t, entry, opens[t], "signal"))
        pending = None
        if long:
            if lows[t] <= sl:
                long = False
                trips.append((entry_bar, t, entry, sl, "stop"))
            elif highs[t] >= tp:
                long = False
                trips.append((entry_bar, t, entry, tp, "take_profit"))
        if t >= 26 and t < n - 1:
            if not long and d[t - 1] < 0.0 < d[t]:
                pending = "buy"
            elif long and d[t - 1] > 0.0 > d[t]:
                pending = "sell"
    if long:
        trips.append((entry_bar, n - 1, entry, closes[-1], "end"))
    return trips


def final_equity(trips: list[Trip]) -> float:
    equity = CASH
    for _, _, entry, exit_, _ in trips:
        equity *= (exit_ / entry) * (1.0 - FEE) / (1.0 + FEE)
    return equity


def same_trips(ours: list[Trip], other: list[Trip], tol: float = 1e-9) -> tuple[bool, int]:
    """(equal, first mismatching index or -1): bars exact, prices to ``tol`` relative."""
    for i, (a, b) in enumerate(zip(ours, other, strict=False)):
        if a[:2] != b[:2] or not all(
            math.isclose(x, y, rel_tol=tol) for x, y in zip(a[2:4], b[2:4], strict=True)
        ):
            return False, i
    if len(ours) != len(other):
        return False, min(len(ours), len(other))
    return True, -1


PEER_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
from backtesting import Backtest, Strategy
warnings.filterwarnings("ignore")
data_dir, stops, RUNS = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
cols = {k: np.load(f"{data_dir}/{k}.npy") for k in ("t", "o", "h", "l", "c", "up", "down")}
n = cols["c"].size
def pad(a, v):  # one flat bar at the last close, for the end-of-data close
    return np.append(a, v)
df = pd.DataFrame({"Open": pad(cols["o"], cols["c"][-1]), "High": pad(cols["h"], cols["c"][-1]),
                   "Low": pad(cols["l"], cols["c"][-1]), "Close": pad(cols["c"], cols["c"][-1]),
                   "Volume": np.ones(n + 1)},
                  index=pd.to_datetime(pad(cols["t"], cols["t"][-1] + 60000), unit="ms"))
UP, DOWN = pad(cols["up"], False), pad(cols["down"], False)
NEXT_OPEN = np.append(df.Open.values[1:], np.nan)
out = {}
for stop, target in stops:
    class Ref(Strategy):
        def init(self):
            self.up = self.I(lambda: UP.astype(float), name="up", plot=False)
            self.down = self.I(lambda: DOWN.astype(float), name="down", plot=False)
        def next(self):
            i = len(self.data) - 1
            if i >= n - 1:
                return  # a signal on the last real bar is ignored
            if not self.position and UP[i]:
                e = NEXT_OPEN[i]
                self.buy(size=0.999999, sl=e * (1.0 - stop), tp=e * (1.0 + target))
            elif self.position and DOWN[i]:
                self.position.close()
    bt = Backtest(df, Ref, cash=1e12, commission=0.0004, spread=0.0, trade_on_close=False,
                  exclusive_orders=True, finalize_trades=True)
    dt = float("inf")
    for _ in range(RUNS):  # best of RUNS, as ours is timed
        t0 = time.perf_counter()
        stats = bt.run()
        dt = min(dt, time.perf_counter() - t0)
    tr = stats._trades
    trips = [[int(a), min(int(b), n - 1), float(c), float(d)] for a, b, c, d in
             zip(tr.EntryBar, tr.ExitBar, tr.EntryPrice, tr.ExitPrice)]
    out[f"{stop}/{target}"] = {"seconds": dt, "trades": trips}
print(json.dumps(out))
"""


def peer_python() -> tuple[Path | None, str]:
    """The peer venv's interpreter with backtesting installed, or None and why not."""
    python = PEER_ENV / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER_ENV)], check=True)
        probe = subprocess.run([str(python), "-c", "import backtesting"], capture_output=True)
        if probe.returncode != 0:
            pip = [str(python), "-m", "pip", "install", "-q", "backtesting"]
            done = subprocess.run(pip, capture_output=True, text=True)
            if done.returncode != 0:
                return None, f"pip install backtesting failed: {done.stderr.strip()[-300:]}"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"cannot create the peer venv at {PEER_ENV}: {exc}"
    return python, ""


def run_peer(series: BarSeries, up: np.ndarray, down: np.ndarray) -> tuple[dict | None, str]:
    python, why = peer_python()
    if python is None:
        return None, why
    with tempfile.TemporaryDirectory(prefix="qt-bench-bt-") as tmp:
        arrays = {"t": series.open_time, "o": series.open, "h": series.high, "l": series.low}
        arrays |= {"c": series.close, "up": up, "down": down}
        for name, values in arrays.items():
            np.save(f"{tmp}/{name}.npy", values)
        done = subprocess.run(
            [str(python), "-c", PEER_SCRIPT, tmp, json.dumps(STOPS), str(RUNS)],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        return None, f"backtesting.py run failed: {done.stderr.strip()[-300:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def best_of(runs: int, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    best, value = math.inf, None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, value


def engine_run(series: BarSeries, stop: float, target: float, *, rules: bool) -> BacktestResult:
    """``ref_ema_cross`` through the one engine: its own rules, or the system's."""
    config = EngineConfig(strategy_rules=rules, workers=1)
    if rules:  # the document's account (the trade list does not depend on it)
        config = EngineConfig(balance=Decimal(100_000), taker_fee=Decimal("0.0004"), workers=1)
    params = {"stop_pct": stop, "target_pct": target}
    return run_engine([series], "ref_ema_cross", config, params)


def universe_seconds(strategies: tuple[str, ...]) -> tuple[float, int, int]:
    """The engine with ``strategies`` and the default rules on 20 symbols × 1 year of
    1 m bars, signals included: (seconds, bars, trades)."""
    from quantum_trader.data import DEFAULT_SYMBOLS, generate_market

    market = generate_market(list(DEFAULT_SYMBOLS)[:20], BARS, MarketConfig(seed=11)).bars
    t0 = time.perf_counter()
    result = run_engine(list(market.values()), strategies, EngineConfig())
    return time.perf_counter() - t0, result.bars, len(result.trades)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-peer", action="store_true", help="skip backtesting.py")
    parser.add_argument("--universe", action="store_true", help="also time 20 symbols × 1 year")
    args = parser.parse_args()

    series = generate_bars("BTCUSDT", BARS, MarketConfig(seed=args.seed))
    from quantum_trader.strategies import ref_ema_cross_signals

    up, down = ref_ema_cross_signals(series.close)
    ours_s, ours_equal, numpy_s = math.inf, True, math.inf
    for stop, target in STOPS:
        seconds, result = best_of(RUNS, engine_run, series, stop, target, rules=True)
        np_seconds, ref_trips = best_of(
            1, numpy_reference, series.open, series.high, series.low, series.close, stop, target
        )
        trips = [
            (t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.exit_reason)
            for t in result.trades
        ]
        equal, at = same_trips(trips, ref_trips)
        reasons_equal = [t[4] for t in trips] == [t[4] for t in ref_trips]
        ours_equal = ours_equal and equal and reasons_equal
        if (stop, target) == STOPS[0]:
            ours_s, numpy_s = seconds, np_seconds
        print(
            f"stops {stop:.1%}/{target:.1%}: engine (reference rules) {BARS / seconds:,.0f} "
            f"bars/s ({seconds:.3f} s, {len(trips)} trades, final {result.final_equity:,.2f}); "
            f"numpy ref {BARS / np_seconds:,.0f} bars/s ({len(ref_trips)} trades, final "
            f"{final_equity(ref_trips):,.2f}); equal={equal and reasons_equal}"
            + ("" if equal else f" first difference at trade {at}")
        )
    system_s, system = best_of(RUNS, engine_run, series, *STOPS[0], rules=False)
    print(
        f"engine (system rules: exit brain, ladder, trailing, kill score, risk guard, gate) "
        f"{BARS / system_s:,.0f} bars/s ({system_s:.2f} s, {len(system.trades)} positions)"
    )

    peer_bps: float | None = None
    peer_agree: dict[str, object] = {}
    peer, why = (None, "skipped (--no-peer)") if args.no_peer else run_peer(series, up, down)
    if peer is None:
        print(f"backtesting.py: unavailable — {why}")
    else:
        for stop, target in STOPS:
            key = f"{stop}/{target}"
            got = [(a, b, c, d, "") for a, b, c, d in peer[key]["trades"]]
            ref = numpy_reference(series.open, series.high, series.low, series.close, stop, target)
            pairs = {(a, b) for a, b, *_ in ref}
            matched = sum(1 for a, b, *_ in got if (a, b) in pairs)
            peer_agree[key] = {"trades": len(got), "reference": len(ref), "matched": matched}
            print(
                f"backtesting.py {key}: {len(got)} trades in {peer[key]['seconds']:.1f} s; "
                f"{matched}/{len(ref)} match the reference on (entry bar, exit bar)"
            )
        peer_bps = BARS / peer[f"{STOPS[0][0]}/{STOPS[0][1]}"]["seconds"]

    ref_bps, system_bps, numpy_bps = BARS / ours_s, BARS / system_s, BARS / numpy_s
    print(
        f"reference rules {ref_bps:,.0f} bars/s | system rules {system_bps:,.0f} bars/s | ", end=""
    )
    print(f"numpy loop {numpy_bps:,.0f} bars/s | ", end="")
    print(f"backtesting.py {peer_bps:,.0f} bars/s" if peer_bps else "backtesting.py n/a")
    extra: dict[str, object] = {}
    if args.universe:
        from quantum_trader.config import StrategySettings

        for key, names in (("universe", StrategySettings().names), ("trend_ema", ("trend_ema",))):
            seconds, bars, trades = universe_seconds(names)
            label = ",".join(names)
            print(f"engine, 20 symbols × 1 y ({label}): {bars:,} bars, {trades} trades, "
                  f"{seconds:.1f} s")  # fmt: skip
            extra[f"{key}_seconds"] = round(seconds, 1)
            extra[f"{key}_bars_per_s"] = round(bars / seconds)
    baseline = peer_bps if peer_bps else numpy_bps
    report(
        "backtest_speed",
        ref_bps,
        baseline,
        "bars/s",
        numpy_ref_bars_per_s=round(numpy_bps),
        ratio_vs_numpy_ref=round(ref_bps / numpy_bps, 2),
        trades_equal=ours_equal,
        peer_agreement=peer_agree or None,
        peer_unavailable=why or None,
        **extra,
        ref_bars_per_s=round(ref_bps),
        system_bars_per_s=round(system_bps),
        backtestingpy_bars_per_s=round(peer_bps) if peer_bps else None,
        ratio_vs_backtestingpy=round(ref_bps / peer_bps, 2) if peer_bps else None,
        system_ratio_vs_backtestingpy=round(system_bps / peer_bps, 2) if peer_bps else None,
    )


if __name__ == "__main__":
    main()
