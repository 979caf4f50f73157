"""``quantum chaos``: the independent checker catches each invariant's violation on a
hand-made history (so a clean verdict is not vacuous), and a short soak of the whole
system — every service its own process, every fault kind — ends with none."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Plan
from quantum_trader.domain.enums import (
    OrderStatus,
    OrderType,
    PlanAction,
    PlanKind,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import Fill, Order, PositionState
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.ops.stepped.checker import (
    Evidence,
    GroupState,
    check_all,
    uncovered_ms,
)

T0 = 1_704_067_200_000
BTC = MatchingCore().instrument("BTCUSDT")


def order(
    cid: str,
    *,
    side: Side = Side.BUY,
    type_: OrderType = OrderType.MARKET,
    qty: str = "0.010",
    at: int = T0,
    until: int = T0,
    status: OrderStatus = OrderStatus.FILLED,
    stop: str | None = None,
    reduce_only: bool = False,
) -> Order:
    return Order(
        "BTCUSDT",
        side,
        type_,
        status,
        cid,
        f"x{cid}",
        Decimal(qty),
        Decimal(qty),
        Decimal(40000),
        None,
        Decimal(stop) if stop else None,
        reduce_only,
        False,
        WorkingType.MARK_PRICE,
        TimeInForce.GTC,
        at,
        until,
    )


def fill(cid: str, n: int, *, side: Side = Side.BUY, qty: str = "0.010", at: int = T0) -> Fill:
    return Fill(
        "BTCUSDT",
        str(n),
        f"x{cid}",
        cid,
        side,
        Decimal(40000),
        Decimal(qty),
        Decimal("0.1"),
        "USDT",
        Decimal(0),
        False,
        cid.startswith(("qx-", "qs-")),
        at,
    )


def plan(plan_id: str, kind: PlanKind = PlanKind.OPEN, at: int = T0) -> Plan:
    return Plan(
        msg_id=plan_id,
        ts_event=at,
        ts_init=at,
        source="test",
        plan_id=plan_id,
        kind=kind,
        symbol="BTCUSDT",
        side=PositionSide.LONG,
        action=PlanAction.OPEN if kind is PlanKind.OPEN else PlanAction.FULL_CLOSE,
        qty=Decimal("0.010") if kind is PlanKind.OPEN else None,
        stop_price=Decimal(39000) if kind is PlanKind.OPEN else None,
        position_id="BTCUSDT:p1" if kind is PlanKind.CLOSE else None,
        created_at=at,
        expires_at=at + 30_000,
    )


def result(plan_id: str, executed: bool, reason: str, at: int = T0) -> ApplyResult:
    return ApplyResult(
        msg_id=f"r{plan_id}",
        ts_event=at,
        ts_init=at,
        source="test",
        plan_id=plan_id,
        symbol="BTCUSDT",
        action=PlanAction.FULL_CLOSE,
        executed=executed,
        reason=reason,
    )


def protected_entry(plan_id: str = "p1") -> tuple[list[Order], list[Fill]]:
    cid = client_order_id("e", plan_id)
    stop = order(
        "qs-1",
        side=Side.SELL,
        type_=OrderType.STOP_MARKET,
        status=OrderStatus.NEW,
        reduce_only=True,
        stop="39000",
    )
    return [order(cid), stop], [fill(cid, 1)]


def evidence(**overrides: object) -> Evidence:
    orders, fills = protected_entry()
    base: dict[str, object] = {
        "orders": orders,
        "fills": fills,
        "until": T0 + 600_000,
        "instruments": {"BTCUSDT": BTC},
        "plans": [plan("p1")],
        "results": [result("p1", True, "executed")],
        "ledger": {"BTCUSDT": ("LONG", Decimal("0.010"))},
        "positions": [position("0.010")],
    }
    base.update(overrides)
    return Evidence(**base)  # type: ignore[arg-type]


def position(qty: str) -> PositionState:
    return PositionState(
        "BTCUSDT", PositionSide.LONG, Decimal(qty), Decimal(40000), Decimal(40000),
        Decimal(0), 5, Decimal(0), T0,
    )  # fmt: skip


def counts(ev: Evidence) -> dict[str, int]:
    found, _ = check_all(ev)
    return {name: len(v) for name, v in found.items() if v}


def test_a_clean_history_has_no_violation() -> None:
    assert counts(evidence()) == {}


def test_one_plan_placed_twice_is_a_duplicate_entry() -> None:
    orders, _fills = protected_entry()
    cid = client_order_id("e", "p1")
    ev = evidence(orders=[*orders, order(cid, at=T0 + 60_000)])
    assert counts(ev) == {"1_one_entry_per_plan": 1}
    unplanned = evidence(plans=[plan("other")])
    assert counts(unplanned) == {"1_one_entry_per_plan": 1}


def test_an_entry_on_an_open_same_side_position_is_pyramiding() -> None:
    orders, fills = protected_entry()
    cid2 = client_order_id("e", "p2")
    ev = evidence(
        orders=[*orders, order(cid2, at=T0 + 60_000)],
        fills=[*fills, fill(cid2, 2, at=T0 + 60_000)],
        plans=[plan("p1"), plan("p2")],
        ledger={"BTCUSDT": ("LONG", Decimal("0.020"))},
        positions=[position("0.020")],
    )
    found, _ = check_all(ev)
    assert len(found["2_no_unintended_pyramiding"]) == 1
    assert "added to a position opened by" in found["2_no_unintended_pyramiding"][0].detail


def test_a_position_without_a_stop_beyond_the_bound_is_unprotected() -> None:
    cid = client_order_id("e", "p1")
    ev = evidence(orders=[order(cid)], fills=[fill(cid, 1)])
    found, longest = check_all(ev)
    assert longest == 600_000
    assert found["3_every_position_protected"][0].at == T0
    # a position opened by hand is excused for one reconcile interval, not forever
    hand = evidence(orders=[order(cid)], fills=[fill(cid, 1)], hand=[("BTCUSDT", T0)])
    assert len(check_all(hand)[0]["3_every_position_protected"]) == 1
    assert uncovered_ms(0, 100, [(10, 20), (15, 50)]) == 50


def test_lost_blocked_and_doubled_exits_are_caught() -> None:
    lost = evidence(plans=[plan("p1"), plan("c1", PlanKind.CLOSE)])
    assert counts(lost) == {"4_exits_never_blocked": 1}
    blocked = evidence(
        plans=[plan("p1"), plan("c1", PlanKind.CLOSE)],
        results=[result("p1", True, "executed"), result("c1", False, "risk_reduce_only")],
    )
    assert counts(blocked) == {"4_exits_never_blocked": 1}
    orders, _fills = protected_entry()
    twice = evidence(orders=[*orders, order("qx-1", side=Side.SELL), order("qx-1", side=Side.SELL)])
    assert counts(twice) == {"4_exits_never_blocked": 1}


def test_a_ledger_that_differs_from_the_exchange_is_caught() -> None:
    assert counts(evidence(ledger={})) == {"5_ledger_equals_exchange": 1}


def test_pending_unread_and_undead_garbage_are_lost_messages() -> None:
    stream = "quantum:stream:apply.plan"
    ev = evidence(
        groups=[GroupState(stream, "apply-layer", 2, "5-0")],
        last_ids={stream: "9-0"},
        garbage=[(stream, "7-0")],
    )
    assert counts(ev) == {"6_nothing_lost": 3}
    lettered = DeadLetter(
        msg_id="d1", ts_event=T0, ts_init=T0, source="bus", reason="not JSON",
        source_stream=stream, original_id="7-0", group="apply-layer", consumer="c",
        failures=0, raw="x",
    )  # fmt: skip
    ok = evidence(
        groups=[GroupState(stream, "apply-layer", 0, "9-0")],
        last_ids={stream: "9-0"},
        garbage=[(stream, "7-0")],
        dead=[lettered],
    )
    assert counts(ok) == {}


def test_a_quantity_off_the_step_is_caught() -> None:
    orders, _fills = protected_entry()
    odd = order("qs-2", side=Side.SELL, type_=OrderType.STOP_MARKET, qty="0.0101", stop="39000.05")
    found, _ = check_all(evidence(orders=[*orders, odd]))
    assert len(found["8_exact_quantities"]) == 1
    assert "qty 0.0101" in found["8_exact_quantities"][0].detail


@pytest.mark.chaos
@pytest.mark.timeout(600)  # a hang guard: the soak runs ~4 minutes on two cores
def test_short_soak_every_fault_kind_no_violation() -> None:
    from quantum_trader.cli.run import _symbols
    from quantum_trader.ops.chaos.run import ChaosRun
    from quantum_trader.ops.chaos.schedule import FAULT_KINDS, ChaosConfig

    config = ChaosConfig(
        symbols=_symbols(None, 8), hours=2.0, seed=11, per_kind=SOAK_PER_KIND,
        expensive_per_kind=SOAK_EXPENSIVE_PER_KIND,
    )  # fmt: skip
    report = asyncio.run(ChaosRun(config).run())
    data = report.to_json()
    print(json.dumps(data, indent=1))  # the figures, shown with -s or on failure
    assert set(data["faults_by_kind"]) == set(FAULT_KINDS)
    assert min(data["faults_by_kind"].values()) >= SOAK_EXPENSIVE_PER_KIND
    assert data["faults_total"] >= 50
    assert data["process_kills"].get("sigstop:apply-layer", 0) >= 1, "no executor was stopped"
    assert data["violations_total"] == 0, json.dumps(data["violations_by_invariant"], indent=1)


SOAK_PER_KIND = 50
SOAK_EXPENSIVE_PER_KIND = 10
