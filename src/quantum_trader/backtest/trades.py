"""What a backtest produces: closed positions, the equity curve, and the run's outcome.

The engine produces it for every strategy, so metrics, the JSON writer and the HTML
report read one shape. Prices, quantities and money are floats here: they are results for
analysis, not orders for an exchange.

One :class:`Trade` is one **position**, from its entry to its final exit; a position
closed in several fills (the harvest ladder's partial take-profits, then a stop) is one
trade whose ``exits`` list those fills. Trade counts, win rate, average R and profit
factor are therefore per position, never per fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from quantum_trader.data.marks import LAST_PRICE

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NO_FUNDING = "none"


def flat_funding(rate: Decimal) -> str:
    """``funding_source`` for one rate every 8 h on every symbol: ``flat 0.0001/8h``."""
    return f"flat {rate.normalize():f}/8h"


def funding_from_files(symbols: int) -> str:
    """``funding_source`` when recorded or synthetic funding-rate files were used."""
    return f"files: {symbols} symbols"


@dataclass(frozen=True, slots=True)
class ExitFill:
    """One fill that reduced a position.

    ``time`` is the open time (ms UTC) of the bar in which it filled, ``index`` that bar's
    position in the symbol's series. ``fees`` are its own commission plus its pro-rata
    share of the entry fees; ``pnl`` is its gross pnl less those fees (no funding:
    funding belongs to the position, not to one fill).
    """

    time: int
    price: float
    qty: float
    reason: str
    pnl: float
    fees: float
    index: int = -1

    def as_json(self) -> dict[str, object]:
        return {
            "time": self.time,
            "price": self.price,
            "qty": self.qty,
            "reason": self.reason,
            "pnl": self.pnl,
            "fees": self.fees,
        }


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed position: its entry, its exit fills and what it earned.

    Times are the open time (ms UTC) of the bar in which each fill happened; indices are
    those bars' positions in the symbol's series. ``qty`` is the quantity entered (the
    sum of the exits' quantities); ``exit_price`` is the quantity-weighted average exit
    price, ``exit_time`` / ``exit_index`` / ``exit_reason`` those of the final exit.
    ``pnl`` is net of all fees and of funding (``funding`` > 0 means received), summed
    over the position; ``risk`` is the money at risk at entry (qty × initial stop
    distance, 0 when unknown), so ``r_multiple`` is the whole position's pnl in R.
    ``strategy`` is the name on the entry signal that opened it ("" when unknown);
    ``stops`` the protective stop's levels while it was open, ``(bar open time, price)``
    from the initial stop on, one per move (for the report, not the JSON).
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
    risk: float = 0.0
    exits: tuple[ExitFill, ...] = ()  # empty: a single exit described by the fields above
    strategy: str = ""
    stops: tuple[tuple[int, float], ...] = ()

    @property
    def r_multiple(self) -> float | None:
        return self.pnl / self.risk if self.risk > 0.0 else None

    @property
    def exit_fills(self) -> tuple[ExitFill, ...]:
        """The exit fills, in order (one, from the trade's own fields, when not listed)."""
        if self.exits:
            return self.exits
        return (
            ExitFill(
                self.exit_time,
                self.exit_price,
                self.qty,
                self.exit_reason,
                self.pnl - self.funding,
                self.fees,
                self.exit_index,
            ),
        )

    def as_json(self) -> dict[str, object]:
        """The JSON form: times as int ms UTC, prices/qty/money as floats (numbers)."""
        return {
            "symbol": self.symbol,
            "strategy": self.strategy,
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
            "exits": [e.as_json() for e in self.exit_fills],
        }


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """Trades, the bar-by-bar equity curve (mark to market at each bar close) and totals.

    ``fees`` and ``funding`` are the whole account's; ``realized_pnl`` is the gross pnl
    the exchange booked on closing fills (None: derive it from the trades).
    """

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
    realized_pnl: float | None = None
    funding_source: str = NO_FUNDING
    mark_source: str = LAST_PRICE  # the mark price the exchange walked (files, synthetic)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.starting_balance

    @property
    def realized(self) -> float:
        """Gross realized pnl: the exchange's figure, or the trades' pnl before costs."""
        if self.realized_pnl is not None:
            return self.realized_pnl
        return sum(t.pnl + t.fees - t.funding for t in self.trades)

    @property
    def net_pnl(self) -> float:
        """realized − fees + funding (funding: + received, − paid)."""
        return self.realized - self.fees + self.funding


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
    skipped: dict[str, int] = {}
    for part in parts:
        for reason, count in part.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    sources = sorted({p.funding_source for p in parts})
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
        skipped=skipped,
        realized_pnl=sum(p.realized for p in parts),
        funding_source=", ".join(sources),
        mark_source=", ".join(sorted({p.mark_source for p in parts})),
    )
