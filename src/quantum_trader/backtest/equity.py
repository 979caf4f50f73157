"""The account's mark-to-market equity at every step, from what changed and when.

The replay records the wallet and each symbol's position (quantity, entry, side) only
at the steps where they changed (fills, funding); between them they are constant, so
the curve is rebuilt at the end with numpy — wallet plus every open position's
``qty × (close − entry) × side`` at the symbol's latest close — including the quiet
bars the replay skipped. Floats: a report, not money.
"""

from __future__ import annotations

import numpy as np

from quantum_trader.backtest.trades import FloatArray, IntArray
from quantum_trader.decide.position_ledger import LedgerPosition

Mark = tuple[int, float, float, int]  # (step, qty, entry price, side sign); qty 0 = flat


class EquityBook:
    """Wallet and positions as of each step at which they changed."""

    def __init__(self, symbols: int, balance: float) -> None:
        self.wallet: list[tuple[int, float]] = [(0, balance)]
        self.positions: list[list[Mark]] = [[] for _ in range(symbols)]

    def record_wallet(self, step: int, wallet: float) -> None:
        if self.wallet[-1][1] != wallet:
            if self.wallet[-1][0] == step:
                self.wallet[-1] = (step, wallet)
            else:
                self.wallet.append((step, wallet))

    def record_position(self, symbol: int, step: int, position: LedgerPosition | None) -> None:
        marks = self.positions[symbol]
        mark: Mark = (
            (step, 0.0, 0.0, 0)
            if position is None
            else (step, float(position.qty), float(position.entry_price), position.side.sign)
        )
        if marks and marks[-1][0] == step:
            marks[-1] = mark
        elif not marks or marks[-1][1:] != mark[1:]:
            marks.append(mark)

    def curve(self, steps: int, bar_steps: list[IntArray], closes: list[FloatArray]) -> FloatArray:
        """Equity at each of ``steps`` steps; ``bar_steps[s]`` maps symbol ``s``'s bars to
        steps and ``closes[s]`` are its closes."""
        at = np.array([s for s, _ in self.wallet], dtype=np.int64)
        values = np.array([w for _, w in self.wallet])
        wallet = values[np.searchsorted(at, np.arange(steps), side="right") - 1]
        upnl = np.zeros(steps)
        for marks, bars, close in zip(self.positions, bar_steps, closes, strict=True):
            if not marks:
                continue
            if bars.size == steps:  # a bar at every step
                price = close
            else:  # the latest close at or before each step
                latest = np.searchsorted(bars, np.arange(steps), side="right") - 1
                price = close[np.maximum(latest, 0)]
            for n, (start, qty, entry, sign) in enumerate(marks):
                if qty:
                    end = marks[n + 1][0] if n + 1 < len(marks) else steps
                    upnl[start:end] += qty * (price[start:end] - entry) * sign
        return np.asarray(wallet + upnl)
