"""Benchmark: hyperopt trials per minute, one worker against two, in the same run.

Workload: a 30-day, 4-symbol study of 1m bars (a seeded synthetic market written as
Binance kline files, as ``quantum data synth`` writes them), ``trend_ema`` with its
declared search space, 3 search folds and a 25 % holdout; ``quantum hyperopt`` runs it
as a user does (its own process, a private redis-server), first with ``--jobs 1``, then
as a new study with ``--jobs 2``. Timed from the command's start to its report, so the
second worker's start-up is included. Trials differ in cost (a region with many signals
backtests slower; a pruned trial stops after a fold), and two workers' samplers would
draw other trials than one, so both studies evaluate the same trials: each is created
with one trial, then the same seeded parameter sets are queued in it (Optuna runs queued
trials first) and the command is run again with ``--trials N`` — resuming it, as a user
would. Ends with the JSON line of bench/_common.py ``report()``: ours = trials/min with
2 jobs, baseline = with 1 job; bars backtested per second beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import redis_server, report

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT"


def quantum(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "quantum_trader.cli", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-800:]}")


def queue_same_trials(url: str, study: str, count: int, seed: int) -> None:
    """``count`` parameter sets drawn from trend_ema's declared space, the same for every
    study given the same seed, queued in ``study``."""
    import optuna

    from quantum_trader.research.hyperopt.spec import storage_for
    from quantum_trader.strategies.base import strategy_class

    space = strategy_class("trend_ema").search_space
    rng = random.Random(seed)
    found = optuna.load_study(study_name=study, storage=storage_for(url, "quantum:hyperopt:"))
    for _ in range(count):
        params: dict[str, float | int] = {}
        for name, r in space.items():
            if r.kind == "int":
                params[name] = rng.randint(int(r.low), int(r.high))
            elif r.kind == "log":
                params[name] = math.exp(rng.uniform(math.log(r.low), math.log(r.high)))
            else:
                params[name] = rng.uniform(r.low, r.high)
        found.enqueue_trial(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=121, help="trials per study")
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qt-bench-hyperopt-"))
    env = {**os.environ, "QUANTUM_DATA_DIR": str(work / "var")}
    server = redis_server()
    try:
        quantum("data", "synth", "--symbols", SYMBOLS, "--days", str(args.days), "--seed", "9",
                "--out", str(work / "bars"), env=env)  # fmt: skip
        rates: dict[int, float] = {}
        work_rates: dict[int, float] = {}
        for jobs in (1, 2):
            out = work / f"report-{jobs}.json"
            name = f"bench-{jobs}"
            study = ["hyperopt", "--strategy", "trend_ema", "--data", str(work / "bars"),
                     "--folds", "3", "--storage", server.url, "--study", name]  # fmt: skip
            quantum(*study, "--trials", "1", env=env)
            queue_same_trials(server.url, name, args.trials - 1, seed=17)
            started = time.perf_counter()
            quantum(*study, "--trials", str(args.trials), "--jobs", str(jobs), "--json", str(out),
                    env=env)  # fmt: skip
            seconds = time.perf_counter() - started
            found = json.loads(out.read_text())
            rates[jobs] = (args.trials - 1) / seconds * 60
            work_rates[jobs] = found["bars_backtested"] / seconds
            print(f"--jobs {jobs}: {args.trials - 1} trials in {seconds:.1f} s = "
                  f"{rates[jobs]:.1f} trials/min, {work_rates[jobs]:,.0f} bars/s "
                  f"({found['states']})")  # fmt: skip
    finally:
        server.stop()
    report(
        "hyperopt_throughput",
        rates[2],
        rates[1],
        "trials/min",
        trials=args.trials,
        days=args.days,
        symbols=SYMBOLS.count(",") + 1,
        jobs1_trials_per_min=round(rates[1], 2),
        jobs2_trials_per_min=round(rates[2], 2),
        jobs1_bars_per_s=round(work_rates[1]),
        jobs2_bars_per_s=round(work_rates[2]),
        scaling=round(rates[2] / rates[1], 3),
        cpus=os.cpu_count(),
    )


if __name__ == "__main__":
    main()
