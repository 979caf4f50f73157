"""Configuration and the mutable state one simulated account lives in.

The core's modules (execution, market moves, liquidation) are functions over this one
state object, which keeps each of them small and free of hidden globals.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.exchange.interface import ExecutionEvent
from quantum_trader.exchange.sim.account import Account
from quantum_trader.exchange.sim.book import SymbolBook
from quantum_trader.exchange.sim.funding import FundingSchedule
from quantum_trader.exchange.sim.history import History
from quantum_trader.exchange.sim.pricing import SlippageModel


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Account and venue parameters (Binance VIP 0 fees by default)."""

    starting_balance: Decimal = Decimal(10_000)
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    default_leverage: int = 20
    slippage: SlippageModel = field(default_factory=SlippageModel)
    # Binance's liquidationFee for most perpetuals: charged on the liquidated notional.
    liquidation_fee_rate: Decimal = Decimal("0.0125")
    kline_history: int = 1500  # bars kept per symbol and interval for klines()


@dataclass(slots=True)
class SimState:
    config: SimConfig
    books: dict[str, SymbolBook]
    account: Account
    funding: FundingSchedule
    rng: random.Random
    now_ms: int
    next_funding_ms: int
    history: History = field(default_factory=History)
    events: list[ExecutionEvent] = field(default_factory=list)
    klines: dict[tuple[str, str], deque[Kline]] = field(default_factory=dict)
    mark_klines: dict[tuple[str, str], deque[Kline]] = field(default_factory=dict)  # fed marks
    market_start: dict[str, int] = field(default_factory=dict)  # a symbol's first bar or price
    order_seq: int = 0
    trade_seq: int = 0
    liquidation_seq: int = 0

    def instrument(self, symbol: str) -> Instrument:
        return self.books[symbol].instrument

    def next_order_id(self) -> str:
        self.order_seq += 1
        return str(8_000_000_000 + self.order_seq)

    def next_trade_id(self) -> str:
        self.trade_seq += 1
        return str(500_000_000 + self.trade_seq)
