"""One table of cases for every adapter of the ledger port
(:mod:`quantum_trader.services.ledger_port`): run against the in-memory ledger here in
the unit tests and against the Redis ledger on a real redis-server
(``tests/integration/test_ledger_adapters.py``), they prove the two keep the same
promises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal as D

from quantum_trader.domain.enums import PositionSide, Side
from quantum_trader.domain.orders import Fill
from quantum_trader.services.ledger_port import Ledger

BTC, ETH = "BTCUSDT", "ETHUSDT"
T0 = 1_700_000_000_000


def fill(
    trade: str, side: Side, qty: str, price: str, *, symbol: str = BTC,
    coid: str = "qe-entry-1", reduce_only: bool = False, ts: int = T0,
) -> Fill:  # fmt: skip
    return Fill(symbol, trade, f"x-{trade}", coid, side, D(price), D(qty), D("0.01"), "USDT",
                D(0), False, reduce_only, ts)  # fmt: skip


async def opens_from_a_fill_and_lists_by_symbol(ledger: Ledger) -> None:
    await ledger.record_fill(fill("e1", Side.SELL, "2", "3000", symbol=ETH), leverage=5)
    outcome = await ledger.record_fill(fill("b1", Side.BUY, "0.5", "60000"), leverage=10)
    assert outcome is not None and outcome.position is not None and outcome.closed is None
    position = await ledger.read(BTC)
    assert position == outcome.position
    assert (position.side, position.qty, position.entry_price, position.leverage) == (
        PositionSide.LONG, D("0.5"), D("60000"), 10,
    )  # fmt: skip
    assert [p.symbol for p in await ledger.all()] == [BTC, ETH]


async def a_fill_applied_twice_changes_nothing(ledger: Ledger) -> None:
    first = await ledger.record_fill(fill("b1", Side.BUY, "0.5", "60000"))
    assert await ledger.record_fill(fill("b1", Side.BUY, "0.5", "60000")) is None
    assert await ledger.read(BTC) == (first.position if first else None)


async def adding_averages_and_a_partial_close_keeps_the_position(ledger: Ledger) -> None:
    await ledger.record_fill(fill("b1", Side.BUY, "1", "60000"), leverage=10)
    await ledger.record_fill(fill("b2", Side.BUY, "1", "62000", coid="qe-entry-2"))
    partial = await ledger.record_fill(
        fill("s1", Side.SELL, "0.5", "63000", coid="qx-1", reduce_only=True)
    )
    assert partial is not None and partial.closed is None
    position = await ledger.read(BTC)
    assert position is not None
    assert (position.qty, position.entry_price, position.entry_orders) == (D("1.5"), D(61000), 2)
    assert await ledger.closed_by(BTC, "s1") is None


async def the_closing_fill_keeps_the_closed_position_by_trade_id(ledger: Ledger) -> None:
    await ledger.record_fill(fill("b1", Side.BUY, "1", "60000"), leverage=10)
    opened = await ledger.read(BTC)
    outcome = await ledger.record_fill(
        fill("s1", Side.SELL, "1", "59000", coid="qs-stop", reduce_only=True, ts=T0 + 60_000)
    )
    assert outcome is not None and outcome.position is None and outcome.closed is not None
    assert await ledger.read(BTC) is None and await ledger.all() == []
    closed = await ledger.closed_by(BTC, "s1")
    assert closed == outcome.closed
    assert opened is not None and closed.position_id == opened.position_id
    assert await ledger.closed_by(BTC, "b1") is None


async def a_reduce_only_fill_never_opens_a_phantom(ledger: Ledger) -> None:
    outcome = await ledger.record_fill(fill("s1", Side.SELL, "1", "59000", reduce_only=True))
    assert outcome is not None and outcome.position is None
    assert await ledger.read(BTC) is None and await ledger.all() == []


async def update_changes_only_the_position_it_names(ledger: Ledger) -> None:
    await ledger.record_fill(fill("b1", Side.BUY, "1", "60000"), leverage=10)
    position = await ledger.read(BTC)
    assert position is not None
    assert await ledger.set_stop(BTC, "another-position", D(58000), "qs-1", T0) is None
    assert await ledger.read(BTC) == position
    stopped = await ledger.set_stop(BTC, position.position_id, D(58000), "qs-1", T0 + 1)
    assert stopped is not None and (stopped.stop_price, stopped.stop_order_id) == (
        D(58000), "qs-1",
    )  # fmt: skip
    staged = await ledger.set_ladder_stage(BTC, position.position_id, 2, T0 + 2)
    assert staged is not None and staged.ladder_stage == 2 and staged.stop_price == D(58000)
    assert await ledger.read(BTC) == staged
    assert await ledger.update(BTC, position.position_id, lambda p: None) is None
    assert await ledger.read(BTC) is None
    assert await ledger.set_ladder_stage(ETH, position.position_id, 1, T0) is None


async def replace_writes_a_repair_as_given(ledger: Ledger) -> None:
    await ledger.record_fill(fill("b1", Side.BUY, "1", "60000"), leverage=10)
    position = await ledger.read(BTC)
    assert position is not None
    corrected = replace(position, qty=D("0.7"), version=position.version + 1)
    await ledger.replace(corrected, BTC)
    assert await ledger.read(BTC) == corrected
    adopted = replace(position, symbol=ETH, position_id="adopted-eth")
    await ledger.replace(adopted, ETH)
    assert [p.symbol for p in await ledger.all()] == [BTC, ETH]
    await ledger.replace(None, BTC)  # a ghost dropped
    assert await ledger.read(BTC) is None and [p.symbol for p in await ledger.all()] == [ETH]


CASES: dict[str, Callable[[Ledger], Awaitable[None]]] = {
    f.__name__: f
    for f in (
        opens_from_a_fill_and_lists_by_symbol,
        a_fill_applied_twice_changes_nothing,
        adding_averages_and_a_partial_close_keeps_the_position,
        the_closing_fill_keeps_the_closed_position_by_trade_id,
        a_reduce_only_fill_never_opens_a_phantom,
        update_changes_only_the_position_it_names,
        replace_writes_a_repair_as_given,
    )
}
