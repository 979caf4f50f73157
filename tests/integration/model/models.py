"""Real trained models for the serving tests."""

from __future__ import annotations

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.clock import SimClock
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.funding import generate_funding
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.registry import Registry
from quantum_trader.model.train import TrainConfig
from quantum_trader.research.training import TrainingRequest, train_model

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def trained(registry: Registry, seed: int, drift: float = 0.2, funding: bool = False) -> str:
    """A real training run on a planted-edge market, promoted (forced if its evidence on
    so short a market is not enough: what is served is the point here, not the edge);
    with ``funding`` the market's regime-driven funding rates are settled and learned."""
    market = generate_market(SYMBOLS, 5 * 1440, MarketConfig(seed=seed, planted_drift=drift))
    rates = {s: generate_funding(market, s) for s in SYMBOLS} if funding else None
    request = TrainingRequest(
        list(market.bars.values()),
        BarrierConfig(horizon_bars=30),
        TrainConfig(num_threads=1, folds=2, rounds=80),
        EngineConfig(),
        funding=rates,
        funding_feature=funding,
    )
    outcome = train_model(request, registry, SimClock(0))
    if not outcome.promoted:
        registry.promote(outcome.card.model_id, at_ms=1, reason="test", force=True)
    return outcome.card.model_id
