"""The reference fill model: bench/REFERENCE_STRATEGY.md's rules, exactly and fast.

The reference's fills differ from the exchange simulator on purpose (continuous
quantity, no lot or tick rounding, no slippage, a stop or target filled exactly at its
level even when the bar gaps through it), so ``ref_ema_cross`` runs through this
dedicated fill model rather than :class:`~quantum_trader.exchange.sim.MatchingCore`.
Its signals still come from the shared strategy code: the strategy object built by
``get_strategy("ref_ema_cross", ...)`` supplies the parameters and
:func:`~quantum_trader.strategies.ref_ema_cross_signals` (the vectorised twin of
``RefEmaCross.on_bar``, equal bit for bit) supplies the crosses.

Events inside bar ``t`` (the document's order):

1. the market order decided at the close of bar ``t-1`` fills at ``open[t]``;
2. if long, ``low[t] <= SL`` exits at exactly ``SL``, else ``high[t] >= TP`` exits at
   exactly ``TP`` (stop first when both are in range; the entry bar is checked too);
3. at ``close[t]``: flat and cross up -> enter at ``open[t+1]``; long and cross down ->
   exit at ``open[t+1]``. A position closed by SL/TP in bar ``t`` is flat at its close,
   so a cross up at ``t`` re-enters. A signal on the last bar is ignored; a position
   still open at the end closes at the last close (reason ``end``).

Speed: the decisions are event-driven and exact, but the model never walks bars one by
one. Crosses are precomputed; the next entry and the next cross down are found by
bisection; between them the first bar whose range reaches SL or TP is found with numpy
over doubling windows (32, 64, 128, … bars), so a long holding period costs a handful
of vector operations instead of a Python loop over its bars.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quantum_trader.backtest.trades import (
    END,
    SIGNAL,
    STOP,
    TAKE_PROFIT,
    BacktestResult,
    FloatArray,
    IntArray,
    Trade,
)
from quantum_trader.data.bars import BarSeries
from quantum_trader.strategies import RefEmaCross, get_strategy, ref_ema_cross_signals

REFERENCE_FEE = 0.0004
REFERENCE_CASH = 100_000.0
_FIRST_WINDOW = 32
BoolArray = npt.NDArray[np.bool_]
_REASONS = (STOP, TAKE_PROFIT, SIGNAL, END)


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceFills:
    """Round trips as parallel arrays (index = trade); ``reason`` indexes ``_REASONS``."""

    entry_index: IntArray
    exit_index: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    qty: FloatArray
    pnl: FloatArray
    fees: FloatArray
    cash_after: FloatArray
    reason: IntArray

    def __len__(self) -> int:
        return int(self.entry_index.size)

    def reason_name(self, i: int) -> str:
        return _REASONS[int(self.reason[i])]


def reference_fills(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    cross_up: BoolArray,
    cross_down: BoolArray,
    *,
    stop_pct: float,
    target_pct: float,
    fee: float = REFERENCE_FEE,
    cash: float = REFERENCE_CASH,
) -> ReferenceFills:
    """Every round trip of the reference rules over one series of bars."""
    n = int(close.size)
    ups: list[int] = np.flatnonzero(cross_up).tolist()
    downs: list[int] = np.flatnonzero(cross_down).tolist()
    columns: tuple[list[float], ...] = ([], [], [], [], [], [], [], [], [])
    e_idx, x_idx, e_px, x_px, qtys, pnls, fees, cashes, why = columns
    stop_factor = 1.0 - stop_pct
    target_factor = 1.0 + target_pct
    search_from = 0  # first bar whose close may schedule an entry
    while True:
        u = bisect_left(ups, search_from)
        if u == len(ups) or ups[u] >= n - 1:
            break  # no cross up left with a bar after it to fill on
        entry_bar = ups[u] + 1
        entry = float(open_[entry_bar])
        stop_level = entry * stop_factor
        target_level = entry * target_factor
        d = bisect_left(downs, entry_bar)
        last_checked = downs[d] if d < len(downs) else n - 1
        hit = _first_touch(low, high, entry_bar, last_checked, stop_level, target_level)
        if hit >= 0:
            exit_bar = hit
            if low[hit] <= stop_level:
                exit_price, reason = stop_level, 0
            else:
                exit_price, reason = target_level, 1
            search_from = hit  # flat at this bar's close: its cross up may re-enter
        elif d < len(downs) and last_checked < n - 1:
            exit_bar = last_checked + 1
            exit_price, reason = float(open_[exit_bar]), 2
            search_from = exit_bar
        else:
            exit_bar = n - 1
            exit_price, reason = float(close[exit_bar]), 3
            search_from = n
        qty = cash / (entry * (1.0 + fee))
        proceeds = qty * exit_price * (1.0 - fee)
        e_idx.append(entry_bar)
        x_idx.append(exit_bar)
        e_px.append(entry)
        x_px.append(exit_price)
        qtys.append(qty)
        pnls.append(proceeds - cash)
        fees.append(qty * entry * fee + qty * exit_price * fee)
        cashes.append(proceeds)
        why.append(reason)
        cash = proceeds
    return ReferenceFills(
        entry_index=np.array(e_idx, dtype=np.int64),
        exit_index=np.array(x_idx, dtype=np.int64),
        entry_price=np.array(e_px, dtype=np.float64),
        exit_price=np.array(x_px, dtype=np.float64),
        qty=np.array(qtys, dtype=np.float64),
        pnl=np.array(pnls, dtype=np.float64),
        fees=np.array(fees, dtype=np.float64),
        cash_after=np.array(cashes, dtype=np.float64),
        reason=np.array(why, dtype=np.int64),
    )


def _first_touch(
    low: FloatArray, high: FloatArray, first: int, last: int, stop: float, target: float
) -> int:
    """First bar in ``[first, last]`` whose range reaches ``stop`` or ``target``; -1 if none."""
    lo = first
    width = _FIRST_WINDOW
    while lo <= last:
        hi = min(lo + width, last + 1)
        touched = (low[lo:hi] <= stop) | (high[lo:hi] >= target)
        i = int(touched.argmax())
        if touched[i]:
            return lo + i
        lo = hi
        width *= 2
    return -1


def equity_curve(fills: ReferenceFills, close: FloatArray, cash: float) -> FloatArray:
    """Equity at each bar's close: cash when flat, ``qty × close`` while long."""
    bars = np.arange(close.size)
    entered = np.searchsorted(fills.entry_index, bars, side="right")
    exited = np.searchsorted(fills.exit_index, bars, side="right")
    cash_levels = np.concatenate(([cash], fills.cash_after))[exited]
    qty_levels = np.concatenate(([0.0], fills.qty))[entered]
    holding = entered > exited
    return np.where(holding, qty_levels * close, cash_levels)


def reference_strategy(stop_pct: float = 0.02, target_pct: float = 0.03) -> RefEmaCross:
    """The shared ``ref_ema_cross`` strategy object (validates the parameters)."""
    strategy = get_strategy("ref_ema_cross", stop_pct=stop_pct, target_pct=target_pct)
    assert isinstance(strategy, RefEmaCross)
    return strategy


def run_reference(
    series: BarSeries,
    *,
    stop_pct: float = 0.02,
    target_pct: float = 0.03,
    fee: float = REFERENCE_FEE,
    cash: float = REFERENCE_CASH,
) -> BacktestResult:
    """Backtest ``ref_ema_cross`` on one series with the reference's fill rules."""
    strategy = reference_strategy(stop_pct, target_pct)
    up, down = ref_ema_cross_signals(series.close, strategy.fast, strategy.slow)
    fills = reference_fills(
        series.open,
        series.high,
        series.low,
        series.close,
        up,
        down,
        stop_pct=strategy.stop_pct,
        target_pct=strategy.target_pct,
        fee=fee,
        cash=cash,
    )
    return BacktestResult(
        strategy=strategy.name,
        symbols=(series.symbol,),
        interval=series.interval,
        starting_balance=cash,
        trades=tuple(_trades(fills, series, stop_pct)),
        equity_time=series.open_time,
        equity=equity_curve(fills, series.close, cash),
        bars=len(series),
        fees=float(fills.fees.sum()),
        funding=0.0,
    )


def _trades(fills: ReferenceFills, series: BarSeries, stop_pct: float) -> list[Trade]:
    times = series.open_time
    out = []
    for i in range(len(fills)):
        entry_bar, exit_bar = int(fills.entry_index[i]), int(fills.exit_index[i])
        qty, entry = float(fills.qty[i]), float(fills.entry_price[i])
        out.append(
            Trade(
                symbol=series.symbol,
                side="LONG",
                entry_time=int(times[entry_bar]),
                exit_time=int(times[exit_bar]),
                entry_price=entry,
                exit_price=float(fills.exit_price[i]),
                qty=qty,
                pnl=float(fills.pnl[i]),
                fees=float(fills.fees[i]),
                exit_reason=fills.reason_name(i),
                entry_index=entry_bar,
                exit_index=exit_bar,
                risk=qty * entry * stop_pct,
            )
        )
    return out
