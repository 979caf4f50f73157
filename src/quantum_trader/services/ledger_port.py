"""The ledger as a port: what the services need of the book of positions, and an
in-memory adapter beside the Redis one (:class:`~quantum_trader.services.ledger.RedisLedger`).

Both fold fills with the same pure function (``decide.position_ledger.apply_fill``) and
keep the same promises, proven by one table of cases run against each
(``tests/unit/services/ledger_cases.py``):

* a fill whose trade id was applied already changes nothing (None);
* the position a fill closed is kept, by trade id, for whoever asks later;
* ``update`` changes the live position only while it is still the one named;
* ``replace`` writes a reconciler's repair (adopt, correct, drop) as given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from quantum_trader.decide.position_ledger import (
    FillOutcome,
    LedgerPosition,
    apply_fill,
    with_ladder_stage,
    with_stop,
)
from quantum_trader.domain.orders import Fill

Change = Callable[[LedgerPosition], LedgerPosition | None]


class Ledger(Protocol):
    """The book of positions, one per symbol."""

    async def read(self, symbol: str) -> LedgerPosition | None: ...

    async def all(self) -> list[LedgerPosition]:
        """Every open position, by symbol name."""

    async def record_fill(self, fill: Fill, leverage: int | None = None) -> FillOutcome | None:
        """Fold ``fill`` in; None when this trade id was already applied."""

    async def closed_by(self, symbol: str, trade_id: str) -> LedgerPosition | None: ...

    async def update(
        self, symbol: str, position_id: str, change: Change
    ) -> LedgerPosition | None: ...

    async def set_stop(
        self, symbol: str, position_id: str, stop_price: Decimal, stop_order_id: str, now: int
    ) -> LedgerPosition | None: ...

    async def set_ladder_stage(
        self, symbol: str, position_id: str, stage: int, now: int
    ) -> LedgerPosition | None: ...

    async def replace(self, position: LedgerPosition | None, symbol: str) -> None: ...


class StopAndStage(ABC):
    """``set_stop`` and ``set_ladder_stage`` in terms of an adapter's own ``update``."""

    @abstractmethod
    async def update(self, symbol: str, position_id: str, change: Change) -> LedgerPosition | None:
        """Apply ``change`` to the open position ``position_id`` atomically."""

    async def set_stop(
        self, symbol: str, position_id: str, stop_price: Decimal, stop_order_id: str, now: int
    ) -> LedgerPosition | None:
        return await self.update(
            symbol, position_id, lambda p: with_stop(p, stop_price, stop_order_id, now)
        )

    async def set_ladder_stage(
        self, symbol: str, position_id: str, stage: int, now: int
    ) -> LedgerPosition | None:
        return await self.update(symbol, position_id, lambda p: with_ladder_stage(p, stage, now))


class MemoryLedger(StopAndStage):
    """The ledger in one process's memory (a backtest's, a test's)."""

    def __init__(self) -> None:
        self.positions: dict[str, LedgerPosition] = {}
        self.applied: dict[str, set[str]] = {}  # trade ids folded in, per symbol
        self.closed: dict[tuple[str, str], LedgerPosition] = {}  # (symbol, trade id)

    async def read(self, symbol: str) -> LedgerPosition | None:
        return self.positions.get(symbol)

    async def all(self) -> list[LedgerPosition]:
        return [self.positions[s] for s in sorted(self.positions)]

    async def record_fill(self, fill: Fill, leverage: int | None = None) -> FillOutcome | None:
        seen = self.applied.setdefault(fill.symbol, set())
        if fill.trade_id in seen:
            return None
        current = self.positions.get(fill.symbol)
        outcome = apply_fill(current, fill, leverage or (current.leverage if current else 1))
        self._write(fill.symbol, outcome.position)
        seen.add(fill.trade_id)
        if outcome.closed is not None:
            self.closed[(fill.symbol, fill.trade_id)] = outcome.closed
        return outcome

    async def closed_by(self, symbol: str, trade_id: str) -> LedgerPosition | None:
        return self.closed.get((symbol, trade_id))

    async def update(self, symbol: str, position_id: str, change: Change) -> LedgerPosition | None:
        current = self.positions.get(symbol)
        if current is None or current.position_id != position_id:
            return None
        new = change(current)
        self._write(symbol, new)
        return new

    async def replace(self, position: LedgerPosition | None, symbol: str) -> None:
        self._write(symbol, position)

    def _write(self, symbol: str, position: LedgerPosition | None) -> None:
        if position is None:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = position
