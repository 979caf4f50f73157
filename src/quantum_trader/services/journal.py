"""The trade journal: orders, fills and closed positions in SQL (SQLite by default,
any SQLAlchemy URL such as PostgreSQL works), with fees, funding, realized PnL and the
exit reason. It is written from execution events (fills), so its statistics agree with
the exchange's own history (FAILURES #22), and read by `quantum status` and reports.

A closed position's ``exit_price`` is the quantity-weighted average price of the fills
that closed it (harvest tranches, then the stop), not the last fill's price, so
``exit_price``, ``realized_pnl`` and ``r_multiple`` describe the same position.
``account_marks`` keeps the venue's account figures at a moment (starting balance,
wallet, equity, realized PnL, fees, funding) for summaries read later.
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
    inspect,
    select,
    true,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import EXIT_PREFIX, is_stop
from quantum_trader.domain.orders import Fill

FUNDING_SIGN = "+ received, − paid"
MONEY_KEYS = ("starting_balance", "ending_equity", "realized_pnl", "fees", "funding", "net_pnl")

metadata = MetaData()
AMOUNT = Numeric(38, 12, asdecimal=True)
PRICE_QUANTUM = Decimal("1e-12")  # AMOUNT's scale

fills = Table(
    "fills",
    metadata,
    Column("run_id", String(64), primary_key=True),
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
    Column("run_id", String(64), primary_key=True),
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


account_marks = Table(
    "account_marks",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("starting_balance", AMOUNT, nullable=False),
    Column("wallet_balance", AMOUNT, nullable=False),
    Column("ending_equity", AMOUNT, nullable=False),
    Column("realized_pnl", AMOUNT, nullable=False),
    Column("fees", AMOUNT, nullable=False),
    Column("funding", AMOUNT, nullable=False),  # + received, − paid
)


@dataclass(frozen=True, slots=True)
class AccountMark:
    """The venue's account at ``ts``: what it started with, holds, earned and paid."""

    ts: int
    starting_balance: Decimal
    wallet_balance: Decimal
    ending_equity: Decimal
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal  # + received, − paid

    @property
    def net_pnl(self) -> Decimal:
        """realized − fees + funding."""
        return self.realized_pnl - self.fees + self.funding

    def summary(self) -> dict[str, str]:
        """The money keys every summary uses, as decimal strings (USDT)."""
        return {
            "starting_balance": fmt(self.starting_balance),
            "ending_equity": fmt(self.ending_equity),
            "realized_pnl": fmt(self.realized_pnl),
            "fees": fmt(self.fees),
            "funding": fmt(self.funding),
            "net_pnl": fmt(self.net_pnl),
        }


def unmarked_money(realized: Decimal, fees: Decimal, source: str) -> dict[str, str | None]:
    """The money keys without an account mark: balance, equity and funding unknown
    (null), ``net_pnl`` realized − fees, and where the figures came from."""
    return {
        "starting_balance": None,
        "ending_equity": None,
        "realized_pnl": fmt(realized),
        "fees": fmt(fees),
        "funding": None,
        "net_pnl": fmt(realized - fees),
        "money_source": source,
    }


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
    if is_stop(client_order_id):
        return "stop" if position.stop_price == position.initial_stop else "trailing_stop"
    if client_order_id.startswith("autoclose"):
        return "liquidation"
    if client_order_id.startswith(EXIT_PREFIX):
        return "exit"
    return "manual"


def _trade_order(trade_id: str) -> int:
    return int(trade_id) if trade_id.isdigit() else 0


def average_exit_price(
    position: LedgerPosition, rows: Sequence[Any], final_price: Decimal
) -> Decimal:
    """Quantity-weighted average price of the fills that closed ``position``.

    ``rows`` are the symbol's fills (``client_order_id``, ``side``, ``price``, ``qty``)
    from its opening to its close, in order. The walk starts at the opening fill (the
    whole window when it is not journalled, e.g. an adopted position) with the
    position's initial quantity; entry-side fills add, exit-side fills close up to what
    is open. What the fills do not account for (fills never journalled, a ghost the
    reconciler dropped) is closed at ``final_price``.
    """
    exit_side = position.side.exit_side.value
    opening = [
        k
        for k, r in enumerate(rows)
        if r.client_order_id == position.open_client_order_id and r.side != exit_side
    ]
    walk = rows[opening[0] + 1 :] if opening else rows
    open_qty, closed_qty, value = position.initial_qty, Decimal(0), Decimal(0)
    for r in walk:
        qty, price = Decimal(r.qty), Decimal(r.price)
        if r.side != exit_side:
            open_qty += qty
            continue
        closed = min(qty, open_qty)
        closed_qty += closed
        value += closed * price
        open_qty -= closed
        if open_qty == 0:
            break
    if open_qty > 0:
        closed_qty += open_qty
        value += open_qty * final_price
    if closed_qty <= 0:
        return final_price
    return (value / closed_qty).quantize(PRICE_QUANTUM)


def _set_aside_tables_without_run_ids(engine: Engine) -> None:
    """A journal written before runs had ids keeps its rows: its tables are renamed
    ``<table>_before_run_ids`` (never dropped) and new ones are created beside them."""
    tables = inspect(engine)
    with engine.begin() as conn:
        for table in (fills, closed_positions, account_marks):
            if not tables.has_table(table.name):
                continue
            if "run_id" not in {c["name"] for c in tables.get_columns(table.name)}:
                for index in tables.get_indexes(table.name):  # names the new table reuses
                    conn.exec_driver_sql(f'DROP INDEX "{index["name"]}"')
                conn.exec_driver_sql(
                    f'ALTER TABLE "{table.name}" RENAME TO "{table.name}_before_run_ids"'
                )


class Journal:
    """Synchronous SQLAlchemy core, called from async code through a worker thread.

    The journal keeps every run's history: each row carries the ``run_id`` that wrote it
    (a paper run's id; a long-lived deployment uses one id). Reads see ``run_id``'s rows
    only, or every run's when it is None (a reader such as ``quantum status``).
    """

    def __init__(self, url: str, run_id: str | None = None) -> None:
        self.engine: Engine = create_engine(url, future=True)
        self.run_id = run_id
        _set_aside_tables_without_run_ids(self.engine)
        metadata.create_all(self.engine)

    def _mine(self, table: Table) -> Any:
        """The WHERE clause that scopes a read to this journal's run (or to every run)."""
        return table.c.run_id == self.run_id if self.run_id is not None else true()

    def _insert(self, table: Table, row: dict[str, Any]) -> None:
        row = {"run_id": self.run_id or "", **row}
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
        """Journal a closed position; ``exit_price`` is the last fill's (or, for a ghost, the
        mark): the row gets the average over all the position's exit fills."""
        await asyncio.to_thread(
            self._record_close, position, exit_price, closed_at, reason, trigger_to_order_ms
        )

    def _record_close(
        self,
        position: LedgerPosition,
        final_price: Decimal,
        closed_at: int,
        reason: str,
        trigger_to_order_ms: int | None,
    ) -> None:
        exit_price = average_exit_price(position, self._fills_of(position, closed_at), final_price)
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
        self._insert(closed_positions, row)

    def _fills_of(self, position: LedgerPosition, closed_at: int) -> list[Any]:
        """The symbol's journalled fills from the position's opening to its close, in order."""
        c = fills.c
        with self.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(c.trade_id, c.client_order_id, c.side, c.price, c.qty, c.ts).where(
                        c.run_id == (self.run_id or ""),
                        c.symbol == position.symbol,
                        c.ts >= position.opened_at,
                        c.ts <= closed_at,
                    )
                )
            )
        return sorted(rows, key=lambda r: (r.ts, _trade_order(r.trade_id)))

    async def record_account(self, mark: AccountMark) -> None:
        row = {
            "ts": mark.ts,
            "starting_balance": mark.starting_balance,
            "wallet_balance": mark.wallet_balance,
            "ending_equity": mark.ending_equity,
            "realized_pnl": mark.realized_pnl,
            "fees": mark.fees,
            "funding": mark.funding,
        }
        await asyncio.to_thread(self._insert, account_marks, row)

    def last_account(self) -> AccountMark | None:
        """The latest account mark, or None when none was recorded."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(account_marks)
                .where(self._mine(account_marks))
                .order_by(account_marks.c.ts.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return AccountMark(
            ts=int(row.ts),
            starting_balance=Decimal(row.starting_balance),
            wallet_balance=Decimal(row.wallet_balance),
            ending_equity=Decimal(row.ending_equity),
            realized_pnl=Decimal(row.realized_pnl),
            fees=Decimal(row.fees),
            funding=Decimal(row.funding),
        )

    def closed(self) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(closed_positions)
                    .where(self._mine(closed_positions))
                    .order_by(closed_positions.c.closed_at)
                )
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
