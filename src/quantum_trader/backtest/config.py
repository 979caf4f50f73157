"""Backtest configuration: the account, the venue and the decision configs it runs with.

The decision configs are the services' own (``SizingConfig``, ``RiskConfig``,
``ExitConfig``, ``IntentPolicyConfig``); the engine only derives the fee and leverage
fields from the account settings so a ``--fee`` or ``--leverage`` reaches every place
that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.intent_policy import IntentPolicyConfig
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.decide.sizing import SizingConfig
from quantum_trader.exchange.sim import SimConfig, SlippageModel


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything a general-engine backtest needs besides bars and a strategy."""

    balance: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")
    leverage: int = 5
    slippage: SlippageModel = field(default_factory=SlippageModel)
    funding_rate: Decimal | None = Decimal("0.0001")  # per 8 h; None = no funding
    sizing: SizingConfig = field(default_factory=SizingConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    exits: ExitConfig = field(default_factory=ExitConfig)
    policy: IntentPolicyConfig = field(default_factory=IntentPolicyConfig)
    cooldown_ms: int = 60_000  # the apply layer's post-entry / post-close cooldown
    plan_ttl_ms: int = 60_000
    max_open_positions: int = 10
    max_gross_exposure_ratio: Decimal = Decimal(3)  # gate: gross notional ÷ equity
    seed: int = 0
    trade_from_ms: int = 0  # no entry on a signal known before this (indicators still warm up)
    workers: int | None = None  # processes for signal precomputation (None = CPUs)

    def __post_init__(self) -> None:
        if not self.balance > 0:
            raise ValueError(f"balance must be positive, got {self.balance}")
        if not 1 <= self.leverage <= 125:
            raise ValueError(f"leverage must be 1..125, got {self.leverage}")
        if not Decimal(0) <= self.taker_fee < Decimal("0.1"):
            raise ValueError(f"fee must be in [0, 0.1), got {self.taker_fee}")

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
