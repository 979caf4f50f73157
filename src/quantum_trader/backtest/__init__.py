"""Backtests on the services' own decision code: runner, metrics, reports and plots.

* :func:`run_engine` — any strategy through intent admission, sizing, the risk guard,
  the entry gate, the simulated exchange's matching core, the ledger and the exit brain;
  a strategy that prescribes its own execution rules (``ref_ema_cross``, the reference
  strategy of bench/REFERENCE_STRATEGY.md) runs on the same path with them applied;
* :func:`summarize` — the performance figures; ``backtest.breakdowns`` — them per
  symbol, month, exit reason, strategy and side; ``backtest.report`` /
  ``backtest.report_html`` / ``backtest.plots`` write the tables, JSON and HTML/PNG;
  ``backtest.lookahead`` — does any signal or model feature read a later bar;
  ``quantum_trader.cli.backtest`` is ``quantum backtest``.
"""

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay, run_engine
from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.trades import BacktestResult, Trade

__all__ = [
    "BacktestResult",
    "EngineConfig",
    "Trade",
    "build_replay",
    "run_engine",
    "summarize",
]
