"""Simulated Binance USDⓈ-M futures: the matching core, its async shell and fault injection."""

from quantum_trader.exchange.sim.core import MatchingCore
from quantum_trader.exchange.sim.exchange import SimExchange
from quantum_trader.exchange.sim.faults import FaultPlan, FaultProfile
from quantum_trader.exchange.sim.funding import FundingSchedule
from quantum_trader.exchange.sim.pricing import NO_SLIPPAGE, SlippageModel
from quantum_trader.exchange.sim.state import SimConfig
from quantum_trader.exchange.sim.universe import default_universe

__all__ = [
    "NO_SLIPPAGE",
    "FaultPlan",
    "FaultProfile",
    "FundingSchedule",
    "MatchingCore",
    "SimConfig",
    "SimExchange",
    "SlippageModel",
    "default_universe",
]
