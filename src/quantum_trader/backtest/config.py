"""Backtest configuration: the account, the venue and the decision configs it runs with.

The decision configs are the services' own (``SizingConfig``, ``RiskConfig``,
``ExitConfig``, ``IntentPolicyConfig``, ``GateLimits``, ``ApplyConfig``), built from the
one ``Settings`` by ``bootstrap.engine_config`` as paper and live build theirs; the
engine only derives the fee and leverage fields from the account settings so a ``--fee``
or ``--leverage`` reaches every place that uses them.

The execution rules (``sides`` … ``matching``) default to the system's own — what paper
and live do. A strategy that prescribes its own (``Strategy.engine_profile``, e.g.
``ref_ema_cross``) has them applied by the engine unless ``strategy_rules`` is False
(:mod:`quantum_trader.backtest.profile`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.intent_policy import IntentPolicyConfig
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.decide.sizing import MAX_LEVERAGE, SizingConfig
from quantum_trader.domain.enums import EntrySizing, ExitRules, PositionSide
from quantum_trader.exchange.sim import SimConfig, SlippageModel
from quantum_trader.exchange.sim.book import BINANCE_RULES, MatchingRules
from quantum_trader.exchange.sim.funding import DEFAULT_RATE

BOTH_SIDES = frozenset(PositionSide)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything a general-engine backtest needs besides bars and a strategy."""

    balance: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")
    leverage: int = 5
    slippage: SlippageModel = field(default_factory=SlippageModel)
    funding_rate: Decimal | None = DEFAULT_RATE  # per 8 h; None = no flat funding
    recorded_funding: bool = True  # False: funding-rate files are not charged either
    sizing: SizingConfig = field(default_factory=SizingConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    exits: ExitConfig = field(default_factory=ExitConfig)
    policy: IntentPolicyConfig = field(default_factory=IntentPolicyConfig)  # plan lifetime
    gate: GateLimits = field(default_factory=GateLimits)  # the apply layer's entry gate
    apply: ApplyConfig = field(default_factory=ApplyConfig)  # its post-entry/close cooldown
    seed: int = 0
    trade_from_ms: int = 0  # no entry on a signal known before this (indicators still warm up)
    # the first bars (from the latest symbol's first) are history, as a paper run's are:
    # no entry on a signal of one of them (``strategies.history_bars``)
    history_bars: int = 0
    workers: int | None = None  # processes for signal precomputation (None = CPUs)
    # -- execution rules (the system's by default; see module docstring) -----------------
    sides: frozenset[PositionSide] = BOTH_SIDES  # sides an entry may take
    entry_sizing: EntrySizing = EntrySizing.RISK
    exit_rules: ExitRules = ExitRules.EXIT_BRAIN
    signal_exit: bool = False  # a strategy's FLAT signal closes its position
    risk_guard: bool = True  # False: no risk-guard limits (the mode stays NORMAL)
    matching: MatchingRules = BINANCE_RULES  # continuous quantities, bar model
    strategy_rules: bool = True  # apply the strategy's engine_profile, if it has one
    # Visit only bars on which a rule can fire (same fills; False for the proof test).
    skip_quiet_bars: bool = True

    def __post_init__(self) -> None:
        if not self.balance > 0:
            raise ValueError(f"balance must be positive, got {self.balance}")
        if not 1 <= self.leverage <= MAX_LEVERAGE:
            raise ValueError(f"leverage must be 1..{MAX_LEVERAGE}, got {self.leverage}")
        if not Decimal(0) <= self.taker_fee < Decimal("0.1"):
            raise ValueError(f"fee must be in [0, 0.1), got {self.taker_fee}")
        if self.history_bars < 0:
            raise ValueError(f"history_bars must be >= 0, got {self.history_bars}")
        if not self.sides:
            raise ValueError("sides: at least one side must be tradable")

    def trading_from_ms(self, first_open_ms: int, interval_ms: int) -> int:
        """The first time a signal may be known for an entry: after ``trade_from_ms`` and
        after the history bars that start at ``first_open_ms``."""
        return max(self.trade_from_ms, first_open_ms + (self.history_bars + 1) * interval_ms)

    def sizing_config(self) -> SizingConfig:
        return replace(self.sizing, leverage=self.leverage, taker_fee_rate=self.taker_fee)

    def exit_config(self) -> ExitConfig:
        return replace(self.exits, taker_fee_rate=self.taker_fee)

    def sim_config(self) -> SimConfig:
        return SimConfig(
            starting_balance=self.balance,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            default_leverage=self.leverage,
            slippage=self.slippage,
            kline_history=0,
        )
