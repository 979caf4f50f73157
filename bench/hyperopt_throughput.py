"""Benchmark: hyperopt trials per minute, one worker against two, in the same run.

Workload: a 30-day, 4-symbol study of 1m bars (a seeded synthetic market written as
Binance kline files, as ``quantum data synth`` writes them), ``trend_ema`` with its
declared search space, 3 search folds and a 25 % holdout; ``quantum hyperopt`` runs it
as a user does (its own process, a private redis-server), first with ``--jobs 1``, then
as a new study with ``--jobs 2``. Timed from the command's start to its report, so the
second worker's start-up is included. Trials differ in cost (a pruned or refused trial
stops after a fold; two workers' samplers draw other trials than one), so the scaling is
measured on the work done — bars backtested per second, from each study's report — and
trials per minute are printed beside it. Ends with the JSON line of bench/_common.py
``report()``: ours = bars/s with 2 jobs, baseline = with 1 job.
"""

from __future__ import annotations

import argparse
import json
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per study")
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
            started = time.perf_counter()
            quantum("hyperopt", "--strategy", "trend_ema", "--data", str(work / "bars"),
                    "--trials", str(args.trials), "--jobs", str(jobs), "--folds", "3",
                    "--storage", server.url, "--study", f"bench-{jobs}", "--json", str(out),
                    env=env)  # fmt: skip
            seconds = time.perf_counter() - started
            found = json.loads(out.read_text())
            rates[jobs] = args.trials / seconds * 60
            work_rates[jobs] = found["bars_backtested"] / seconds
            print(f"--jobs {jobs}: {args.trials} trials in {seconds:.1f} s = "
                  f"{rates[jobs]:.1f} trials/min, {work_rates[jobs]:,.0f} bars/s "
                  f"({found['states']})")  # fmt: skip
    finally:
        server.stop()
    report(
        "hyperopt_throughput",
        work_rates[2],
        work_rates[1],
        "bars/s",
        trials=args.trials,
        days=args.days,
        symbols=SYMBOLS.count(",") + 1,
        jobs1_trials_per_min=round(rates[1], 2),
        jobs2_trials_per_min=round(rates[2], 2),
        scaling=round(work_rates[2] / work_rates[1], 3),
        cpus=os.cpu_count(),
    )


if __name__ == "__main__":
    main()
