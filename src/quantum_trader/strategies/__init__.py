"""Rule strategies: pure signal generators over closed bars, and their indicators.

Importing the package registers the built-in strategies, so ``get_strategy(name)``
works for every name in ``available()`` without importing strategy modules by hand.
See :mod:`quantum_trader.strategies.base` for how to write a plugin.
"""

from quantum_trader.strategies.base import (
    FLAT,
    AnyStrategy,
    Bar,
    Exit,
    Signal,
    SignalSide,
    Strategy,
    StrategyState,
    available,
    get_strategy,
    intent_id,
    register,
)
from quantum_trader.strategies.breakout import Breakout
from quantum_trader.strategies.mean_reversion import MeanReversion
from quantum_trader.strategies.model import ModelStrategy
from quantum_trader.strategies.ref_ema_cross import RefEmaCross, ref_ema_cross_signals
from quantum_trader.strategies.trend_ema import TrendEma

__all__ = [
    "FLAT",
    "AnyStrategy",
    "Bar",
    "Breakout",
    "Exit",
    "MeanReversion",
    "ModelStrategy",
    "RefEmaCross",
    "Signal",
    "SignalSide",
    "Strategy",
    "StrategyState",
    "TrendEma",
    "available",
    "get_strategy",
    "intent_id",
    "ref_ema_cross_signals",
    "register",
]
