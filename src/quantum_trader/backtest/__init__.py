"""Backtests on the services' own decision code: runner, metrics, reports and plots.

* :func:`run_reference` — ``ref_ema_cross`` on the reference fill model of
  bench/REFERENCE_STRATEGY.md (exact rules, millions of bars per second);
* :func:`run_engine` — any strategy through intent admission, sizing, the risk guard,
  the entry gate, the simulated exchange, the ledger and the exit brain;
* :func:`summarize` — the performance figures; ``backtest.report`` / ``backtest.plots``
  write the table, JSON and HTML/PNG; ``backtest.cli.backtest_command`` is
  ``quantum backtest``.
"""

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay, run_engine
from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.reference import reference_fills, run_reference
from quantum_trader.backtest.trades import BacktestResult, Trade

__all__ = [
    "BacktestResult",
    "EngineConfig",
    "Trade",
    "build_replay",
    "reference_fills",
    "run_engine",
    "run_reference",
    "summarize",
]
