"""The journal's closed position: ``exit_price`` is the average over all its exit fills
(harvest tranches, then the stop), so it agrees with the position's realized PnL."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from quantum_trader.decide.position_ledger import LedgerPosition, apply_fill
from quantum_trader.domain.enums import Side
from quantum_trader.domain.orders import Fill
from quantum_trader.services.journal import AccountMark, Journal

D = Decimal
T = 1_704_067_200_000
trade_ids = iter(range(1, 1_000))


def fill(symbol: str, side: Side, price: str, qty: str, coid: str, ts: int) -> Fill:
    return Fill(
        symbol, str(next(trade_ids)), "1", coid, side, D(price), D(qty), D("0.01"), "USDT",
        D(0), False, coid.startswith("qx") or coid.startswith("qs"), ts,
    )  # fmt: skip


async def play(journal: Journal, fills: list[Fill]) -> list[tuple[LedgerPosition, Fill]]:
    """Fold fills through the ledger and journal them; the closes, as the ledger saw them."""
    position: LedgerPosition | None = None
    closes = []
    for f in fills:
        await journal.record_fill(f)
        if f.symbol != "ETHUSDT":
            continue
        outcome = apply_fill(position, f, 5)
        position = outcome.position
        if outcome.closed is not None:
            closes.append((outcome.closed, f))
        if position is not None and position.initial_stop == 0:
            position = replace(position, initial_stop=D("95"))
    return closes


def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")


async def test_a_laddered_position_journals_its_average_exit_price(tmp_path: Path) -> None:
    j = journal(tmp_path)
    closes = await play(
        j,
        [
            fill("ETHUSDT", Side.SELL, "90", "1", "qx-earlier", T - 60_000),  # an older position
            fill("ETHUSDT", Side.BUY, "100", "1", "qe-1", T),
            fill("SOLUSDT", Side.SELL, "20", "5", "qx-other-symbol", T + 30_000),
            fill("ETHUSDT", Side.SELL, "110", "0.25", "qx-tranche-1", T + 60_000),
            fill("ETHUSDT", Side.SELL, "120", "0.25", "qx-tranche-2", T + 120_000),
            fill("ETHUSDT", Side.SELL, "101", "0.5", "qs-stop", T + 180_000),
        ],
    )
    closed, last = closes[-1]
    await j.record_close(closed, last.price, last.ts, "break_even")
    (row,) = j.closed()
    average = (D("0.25") * 110 + D("0.25") * 120 + D("0.5") * 101) / 1
    assert Decimal(row.exit_price) == average  # 108, not the last fill's 101
    assert (Decimal(row.exit_price) - Decimal(row.entry_price)) * 1 == closed.realized_pnl
    assert Decimal(row.r_multiple) == (average - 100) / 5  # one R = 100 − 95
    j.close()


async def test_a_flip_and_a_ghost_close(tmp_path: Path) -> None:
    j = journal(tmp_path)
    closes = await play(
        j,
        [
            fill("ETHUSDT", Side.BUY, "100", "1", "qe-1", T),
            fill("ETHUSDT", Side.SELL, "104", "0.4", "qx-part", T + 60_000),
            fill("ETHUSDT", Side.SELL, "105", "1.1", "qx-flip", T + 120_000),  # 0.6 closes
        ],
    )
    closed, last = closes[0]
    await j.record_close(closed, last.price, last.ts, "exit")
    (row,) = j.closed()
    assert Decimal(row.exit_price) == (D("0.4") * 104 + D("0.6") * 105) / 1
    # A ghost the reconciler drops: its exits were never seen, so the mark is the exit.
    ghost = replace(closed, position_id="ghost", opened_at=T + 10**7)
    await j.record_close(ghost, D("99"), T + 2 * 10**7, "ghost:gone")
    assert Decimal(j.closed()[-1].exit_price) == 99
    j.close()


async def test_account_marks_give_net_pnl(tmp_path: Path) -> None:
    j = journal(tmp_path)
    assert j.last_account() is None
    for ts, funding in ((T, D("-1")), (T + 1, D("-2.5"))):
        await j.record_account(
            AccountMark(ts, D(10_000), D("9700"), D("9710"), D("36.08"), D("359.72"), funding)
        )
    mark = j.last_account()
    assert mark is not None and mark.ts == T + 1
    assert mark.net_pnl == D("36.08") - D("359.72") - D("2.5")
    j.close()
