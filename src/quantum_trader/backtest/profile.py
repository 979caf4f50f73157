"""A strategy's declared execution rules (``Strategy.engine_profile``) as engine config.

``ref_ema_cross`` declares the rules of bench/REFERENCE_STRATEGY.md this way, so the one
engine — intent admission, the entry gate, the matching core, the ledger — reproduces the
document's trade list, instead of a side path of its own. A profile changes *rules*
(sizing, exits, sides, the venue's fill model); the account (balance, fee) stays the
caller's, and ``account_defaults`` says what a run uses when the caller gives none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.decide.entry_gates import ApplyConfig
from quantum_trader.exchange.sim import NO_SLIPPAGE
from quantum_trader.exchange.sim.book import BarModel, MatchingRules
from quantum_trader.strategies import get_strategy
from quantum_trader.strategies.base import EngineProfile


def profile_of(
    strategy: str | Sequence[str], params: dict[str, object] | None = None
) -> EngineProfile | None:
    """The rules ``strategy`` prescribes, or None (the system's own). Several strategies
    traded together run by the system's rules: one strategy's rules cannot govern the
    others' positions."""
    names = (strategy,) if isinstance(strategy, str) else tuple(strategy)
    if len(names) != 1:
        return None
    return get_strategy(names[0], **(params or {})).engine_profile


def apply_profile(config: EngineConfig, profile: EngineProfile | None) -> EngineConfig:
    """``config`` with the profile's rules in force (unchanged without a profile, or when
    ``config.strategy_rules`` is False)."""
    if profile is None or not config.strategy_rules:
        return config
    bar_model = BarModel.LEVELS if profile.fills_at_levels else BarModel.PATH
    ruled = replace(
        config,
        sides=frozenset(profile.sides),
        entry_sizing=profile.sizing,
        exit_rules=profile.exits,
        signal_exit=profile.signal_exit,
        risk_guard=profile.risk_limits,
        matching=MatchingRules(continuous=profile.continuous_quantity, bar_model=bar_model),
    )
    if not profile.slippage:
        ruled = replace(ruled, slippage=NO_SLIPPAGE)
    if not profile.funding:
        ruled = replace(ruled, funding_rate=None, recorded_funding=False)
    if profile.leverage is not None:
        ruled = replace(ruled, leverage=profile.leverage)
    if profile.history_bars is not None:
        ruled = replace(ruled, history_bars=profile.history_bars)
    if profile.cooldown_ms is not None:
        ruled = replace(ruled, apply=ApplyConfig(cooldown_ms=profile.cooldown_ms))
    return ruled


def account_defaults(profile: EngineProfile | None) -> tuple[Decimal | None, Decimal | None]:
    """(balance, taker fee) a run of this strategy uses when the user gives none."""
    if profile is None:
        return None, None
    return profile.balance, profile.taker_fee
