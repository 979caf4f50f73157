"""The trade journal: orders, fills and closed positions in SQL (SQLite by default,
any SQLAlchemy URL such as PostgreSQL works), with fees, funding, realized PnL and the
exit reason. It is written from execution events (fills), so its statistics agree with
the exchange's own history (FAILURES #22), and read by `quantum status` and reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.orders import Fill

metadata = MetaData()
AMOUNT = Numeric(38, 12, asdecimal=True)

fills = Table(
    "fills",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("trade_id", String(64), primary_key=True),
    Column("client_order_id", String(64), nullable=False, index=True),
    Column("exchange_order_id", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("price", AMOUNT, nullable=False),
    Column("qty", AMOUNT, nullable=False),
    Column("commission", AMOUNT, nullable=False),
    Column("realized_pnl", AMOUNT, nullable=False),
    Column("maker", Boolean, nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

closed_positions = Table(
    "closed_positions",
    metadata,
    Column("position_id", String(128), primary_key=True),
    Column("symbol", String(32), nullable=False, index=True),
    Column("side", String(5), nullable=False),
    Column("qty", AMOUNT, nullable=False),
    Column("entry_price", AMOUNT, nullable=False),
    Column("exit_price", AMOUNT, nullable=False),
    Column("initial_stop", AMOUNT, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=False),
    Column("realized_pnl", AMOUNT, nullable=False),
    Column("fees", AMOUNT, nullable=False),
    Column("r_multiple", AMOUNT, nullable=True),
    Column("ladder_stage", BigInteger, nullable=False),
    Column("exit_reason", String(64), nullable=False),
    Column("trigger_to_order_ms", BigInteger, nullable=True),
    Column("source", String(16), nullable=False),
)


@dataclass(frozen=True, slots=True)
class HarvestMetrics:
    closes_by_reason: dict[str, int]
    winners_scaled: int  # winners that took at least one harvest tranche
    losers_cut: int  # losers closed before their initial stop (kill score, time, signal)
    average_r: Decimal | None
    trigger_to_order_ms: float | None  # mean, over closes made by an exit plan
    trades: int
    realized_pnl: Decimal
    fees: Decimal


def exit_reason_for(client_order_id: str, position: LedgerPosition, planned: str | None) -> str:
    """Why a position closed, from the order that closed it."""
    if planned:
        return planned
    if client_order_id.startswith("qs-"):
        return "stop" if position.stop_price == position.initial_stop else "trailing_stop"
    if client_order_id.startswith("autoclose"):
        return "liquidation"
    if client_order_id.startswith("qx-"):
        return "exit"
    return "manual"


class Journal:
    """Synchronous SQLAlchemy core, called from async code through a worker thread."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, future=True)
        metadata.create_all(self.engine)

    def _insert(self, table: Table, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.execute(sqlite_insert(table).values(**row).on_conflict_do_nothing())
            elif not conn.execute(
                select(func.count())
                .select_from(table)
                .filter_by(**{c.name: row[c.name] for c in table.primary_key})
            ).scalar():
                conn.execute(table.insert().values(**row))

    async def record_fill(self, fill: Fill) -> None:
        row = {
            "symbol": fill.symbol,
            "trade_id": fill.trade_id,
            "client_order_id": fill.client_order_id,
            "exchange_order_id": fill.exchange_order_id,
            "side": fill.side.value,
            "price": fill.price,
            "qty": fill.qty,
            "commission": fill.commission,
            "realized_pnl": fill.realized_pnl,
            "maker": fill.maker,
            "reduce_only": fill.reduce_only,
            "ts": fill.ts,
        }
        await asyncio.to_thread(self._insert, fills, row)

    async def record_close(
        self,
        position: LedgerPosition,
        exit_price: Decimal,
        closed_at: int,
        reason: str,
        trigger_to_order_ms: int | None = None,
    ) -> None:
        risk = abs(position.entry_price - position.initial_stop)
        r_multiple = (
            (exit_price - position.entry_price) * position.side.sign / risk if risk > 0 else None
        )
        row = {
            "position_id": position.position_id,
            "symbol": position.symbol,
            "side": position.side.value,
            "qty": position.initial_qty,
            "entry_price": position.entry_price,
            "exit_price": exit_price,
            "initial_stop": position.initial_stop,
            "opened_at": position.opened_at,
            "closed_at": closed_at,
            "realized_pnl": position.realized_pnl,
            "fees": position.fees,
            "r_multiple": r_multiple,
            "ladder_stage": position.ladder_stage,
            "exit_reason": reason,
            "source": position.source,
            "trigger_to_order_ms": trigger_to_order_ms,
        }
        await asyncio.to_thread(self._insert, closed_positions, row)

    def closed(self) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(closed_positions).order_by(closed_positions.c.closed_at))
            )

    def harvest_metrics(self) -> HarvestMetrics:
        rows = self.closed()
        by_reason: dict[str, int] = {}
        for row in rows:
            by_reason[row.exit_reason] = by_reason.get(row.exit_reason, 0) + 1
        rs = [Decimal(row.r_multiple) for row in rows if row.r_multiple is not None]
        early = {"kill_score", "time_stop", "signal"}
        latencies = [int(r.trigger_to_order_ms) for r in rows if r.trigger_to_order_ms is not None]
        return HarvestMetrics(
            closes_by_reason=by_reason,
            # Winners and losers net of fees: what the account actually kept.
            winners_scaled=sum(1 for r in rows if r.realized_pnl > r.fees and r.ladder_stage > 0),
            losers_cut=sum(1 for r in rows if r.realized_pnl < r.fees and r.exit_reason in early),
            average_r=(sum(rs, Decimal(0)) / len(rs)).quantize(Decimal("0.01")) if rs else None,
            trigger_to_order_ms=sum(latencies) / len(latencies) if latencies else None,
            trades=len(rows),
            realized_pnl=sum((Decimal(r.realized_pnl) for r in rows), Decimal(0)),
            fees=sum((Decimal(r.fees) for r in rows), Decimal(0)),
        )

    def close(self) -> None:
        self.engine.dispose()
