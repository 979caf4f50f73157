"""What a backtest produces: closed trades, the equity curve, and the run's outcome.

Shared by both fill models (the exchange-driven engine and the reference fill model),
so metrics, the JSON writer and the HTML report read one shape. Prices, quantities and
money are floats here: they are results for analysis, not orders for an exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Exit reasons, as recorded on each trade.
STOP = "stop"
TAKE_PROFIT = "take_profit"
TRAILING_STOP = "trailing_stop"
KILL_SCORE = "kill_score"
TIME_STOP = "time_stop"
SIGNAL = "signal"
END = "end"
LIQUIDATION = "liquidation"


def harvest_reason(tranche: int) -> str:
    """Reason of the n-th partial take-profit of the harvest ladder (1-based)."""
    return f"harvest_tranche:{tranche}"


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed (part of a) position: an entry fill matched to an exit fill.

    Times are the open time (ms UTC) of the bar in which each fill happened; indices are
    those bars' positions in the symbol's series. ``pnl`` is net of both fills' fees
    and of funding paid while open (``funding`` > 0 means received).
    """

    symbol: str
    side: str  # "LONG" | "SHORT"
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    qty: float
    pnl: float
    fees: float
    exit_reason: str
    entry_index: int
    exit_index: int
    funding: float = 0.0
    risk: float = 0.0  # money at risk at entry (qty × stop distance); 0 when unknown

    @property
    def r_multiple(self) -> float | None:
        return self.pnl / self.risk if self.risk > 0.0 else None

    def as_json(self) -> dict[str, object]:
        """The JSON form: times as int ms UTC, prices/qty/money as floats (numbers)."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "entry_time": self.entry_time,
            "exit_time": self.exit_time,
            "entry_price": self.entry_price,
            "exit_price": self.exit_price,
            "qty": self.qty,
            "pnl": self.pnl,
            "fees": self.fees,
            "funding": self.funding,
            "exit_reason": self.exit_reason,
            "r_multiple": self.r_multiple,
        }


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """Trades, the bar-by-bar equity curve (mark to market at each bar close) and totals."""

    strategy: str
    symbols: tuple[str, ...]
    interval: str
    starting_balance: float
    trades: tuple[Trade, ...]
    equity_time: IntArray  # open_time of each equity point (ms UTC)
    equity: FloatArray
    bars: int  # bars replayed, summed over symbols
    fees: float
    funding: float
    skipped: dict[str, int] = field(default_factory=dict)  # entry refusals by reason

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.starting_balance


def merge_results(parts: list[BacktestResult], strategy: str) -> BacktestResult:
    """Side-by-side sub-accounts (one per symbol) as one account: trades joined, equity
    summed on the union of their times (each curve held flat outside its own bars)."""
    if len(parts) == 1:
        return parts[0]
    times = np.unique(np.concatenate([p.equity_time for p in parts]))
    total = np.zeros(times.size)
    for part in parts:
        at = np.searchsorted(part.equity_time, times, side="right") - 1
        curve = np.concatenate(([part.starting_balance], part.equity))
        total += curve[at + 1]
    trades = sorted((t for p in parts for t in p.trades), key=lambda t: (t.exit_time, t.symbol))
    return BacktestResult(
        strategy=strategy,
        symbols=tuple(s for p in parts for s in p.symbols),
        interval=parts[0].interval,
        starting_balance=sum(p.starting_balance for p in parts),
        trades=tuple(trades),
        equity_time=times.astype(np.int64),
        equity=total,
        bars=sum(p.bars for p in parts),
        fees=sum(p.fees for p in parts),
        funding=sum(p.funding for p in parts),
    )
