"""The journal keeps history across runs: every row carries its run's id, a run reads
its own rows, a reader sees them all, and a journal from before run ids keeps its rows."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from quantum_trader.decide.position_ledger import apply_fill
from quantum_trader.domain.enums import Side
from quantum_trader.domain.orders import Fill
from quantum_trader.services.journal import Journal

D = Decimal
T = 1_704_067_200_000


def fill(trade_id: str, side: Side, price: str, coid: str, ts: int) -> Fill:
    return Fill(
        "ETHUSDT", trade_id, "1", coid, side, D(price), D("1"), D("0.01"), "USDT",
        D(0), False, side is Side.SELL, ts,
    )  # fmt: skip


async def one_round_trip(journal: Journal, exit_price: str) -> None:
    """The same trade ids every run: a fresh simulated exchange numbers from 1 again."""
    opening = fill("1", Side.BUY, "100", "qe-a", T)
    closing = fill("2", Side.SELL, exit_price, "qx-a", T + 60_000)
    await journal.record_fill(opening)
    await journal.record_fill(closing)
    position = apply_fill(None, opening, 5).position
    assert position is not None
    closed = apply_fill(position, closing, 5).closed
    assert closed is not None
    await journal.record_close(closed, D(exit_price), T + 60_000, "exit")


async def test_two_runs_with_the_same_trade_ids_both_keep_their_trades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    first, second = Journal(url, run_id="run-a"), Journal(url, run_id="run-b")
    await one_round_trip(first, "110")
    await one_round_trip(second, "90")
    assert [D(r.exit_price) for r in first.closed()] == [D("110")]
    assert [D(r.exit_price) for r in second.closed()] == [D("90")]
    reader = Journal(url)
    assert sorted(r.run_id for r in reader.closed()) == ["run-a", "run-b"]
    assert reader.harvest_metrics().trades == 2 and first.harvest_metrics().trades == 1
    for j in (first, second, reader):
        j.close()


async def test_a_journal_from_before_run_ids_keeps_its_rows_beside_the_new_tables(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE fills (symbol VARCHAR(32), trade_id VARCHAR(64), client_order_id "
            "VARCHAR(64), exchange_order_id VARCHAR(64), side VARCHAR(4), price NUMERIC, "
            "qty NUMERIC, commission NUMERIC, realized_pnl NUMERIC, maker BOOLEAN, "
            "reduce_only BOOLEAN, ts BIGINT, PRIMARY KEY (symbol, trade_id))"
        )
        db.execute("CREATE INDEX ix_fills_client_order_id ON fills (client_order_id)")
        db.execute("INSERT INTO fills VALUES ('ETHUSDT','1','qe-old','1','BUY',1,1,0,0,0,0,1)")
    journal = Journal(f"sqlite:///{path}", run_id="run-new")
    await one_round_trip(journal, "105")
    assert len(journal.closed()) == 1
    journal.close()
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT client_order_id FROM fills_before_run_ids").fetchall()
        runs = db.execute("SELECT DISTINCT run_id FROM fills").fetchall()
    assert kept == [("qe-old",)] and runs == [("run-new",)]
