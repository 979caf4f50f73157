"""Executing an exit plan: one rule for the apply layer and the backtest
(:mod:`quantum_trader.decide.exit_execution`), case by case."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from quantum_trader.decide import reasons
from quantum_trader.decide.exit_execution import (
    MISSING_STOP_PRICE,
    STOP_UNCHANGED,
    AfterClose,
    ExitRequest,
    MoveStop,
    SendClose,
    Skip,
    after_close,
    exit_step,
)
from quantum_trader.decide.exit_labels import BREAK_EVEN, KILL_SCORE, TRAILING_STOP
from quantum_trader.decide.order_requests import exit_order_id
from quantum_trader.decide.position_ledger import LedgerPosition, apply_fill
from quantum_trader.domain.enums import OrderType, PlanAction, Side
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import Fill
from tests.unit.decide.sample_instruments import BTCUSDT

PRICE = D("60000")


def position(qty: str = "0.010", stop: str = "59000") -> LedgerPosition:
    fill = Fill(
        "BTCUSDT", "t1", "o1", client_order_id("e", "plan-1"), Side.BUY, PRICE, D(qty),
        D("0"), "USDT", D("0"), False, False, 1_000,
    )  # fmt: skip
    opened = apply_fill(None, fill, 5).position
    assert opened is not None
    return replace(opened, stop_price=D(stop), stop_order_id="qs-old")


def request(action: PlanAction, *codes: str, **kw: object) -> ExitRequest:
    pid = str(kw.pop("position_id", position().position_id))
    return ExitRequest("plan-x", pid, action, reason_codes=codes, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ours", "live", "plan", "expected"),
    [
        (None, D("0.01"), request(PlanAction.FULL_CLOSE), Skip(reasons.NO_POSITION)),
        (position(), None, request(PlanAction.FULL_CLOSE), Skip(reasons.NO_POSITION)),
        (position(), D(0), request(PlanAction.FULL_CLOSE), Skip(reasons.NO_POSITION)),
        (
            position(),
            D("0.01"),
            request(PlanAction.FULL_CLOSE, position_id="another"),
            Skip(reasons.STALE_POSITION),
        ),
        (position(), D("0.01"), request(PlanAction.UPDATE_STOP), Skip(MISSING_STOP_PRICE)),
        (
            position(),
            D("0.01"),
            request(PlanAction.UPDATE_STOP, new_stop=D("59000")),
            Skip(STOP_UNCHANGED),
        ),
        (
            position(),
            D("0.01"),
            request(PlanAction.UPDATE_STOP, reasons.TRAILING_STOP, new_stop=D("59500")),
            MoveStop(D("59500"), TRAILING_STOP),
        ),
        (
            position(),
            D("0.01"),
            request(PlanAction.UPDATE_STOP, reasons.BREAK_EVEN, new_stop=D("60000")),
            MoveStop(D("60000"), BREAK_EVEN),
        ),
    ],
)
def test_refusals_and_moved_stops(
    ours: LedgerPosition | None, live: D | None, plan: ExitRequest, expected: object
) -> None:
    assert exit_step(plan, ours, live, BTCUSDT, PRICE) == expected


def test_a_close_is_sized_against_the_live_quantity_and_labelled() -> None:
    step = exit_step(
        request(PlanAction.PARTIAL_50, reasons.KILL_SCORE), position(), D("0.008"), BTCUSDT, PRICE
    )
    assert isinstance(step, SendClose)
    assert (step.order.quantity, step.label, step.closes_all) == (D("0.004"), KILL_SCORE, False)
    order = step.order
    assert (order.type, order.side, order.reduce_only) == (OrderType.MARKET, Side.SELL, True)
    assert order.client_order_id == exit_order_id("plan-x")  # the id the plan derives


def test_a_partial_that_would_leave_dust_closes_everything() -> None:
    step = exit_step(request(PlanAction.PARTIAL_75), position("0.002"), D("0.002"), BTCUSDT, PRICE)
    assert isinstance(step, SendClose) and step.closes_all and step.order.quantity == D("0.002")


def test_a_signal_exit_keeps_the_label_it_was_given() -> None:
    plan = request(PlanAction.FULL_CLOSE, label="signal")
    step = exit_step(plan, position(), D("0.01"), BTCUSDT, PRICE)
    assert isinstance(step, SendClose) and step.label == "signal"


def test_after_the_fills_the_stop_follows_the_position() -> None:
    before = position("0.010")
    harvest = request(PlanAction.PARTIAL_25, "harvest_tranche:2")
    assert after_close(harvest, before, None) == AfterClose(cancel_stop="qs-old")
    rest = replace(before, qty=D("0.008"))
    assert after_close(harvest, before, rest) == AfterClose(ladder_stage=2, replace_stop=True)
    unfilled = after_close(request(PlanAction.PARTIAL_25), before, before)
    assert unfilled == AfterClose()  # nothing filled: the stop already covers it all
    naked = replace(rest, stop_price=D(0))
    assert after_close(harvest, before, naked) == AfterClose(ladder_stage=2)
