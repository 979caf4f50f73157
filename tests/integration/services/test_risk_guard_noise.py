"""risk-guard on real Redis: a measure hovering at its limit makes ONE mode change (one
event, one warning), a change of reasons alone is info, and a repeated mode says nothing."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.schemas import Event
from quantum_trader.domain.enums import PositionSide, RiskMode
from quantum_trader.domain.orders import AccountState, PositionState
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.services.risk_guard import RiskGuard, RiskGuardConfig
from tests.integration.services.market_rig import Rig

EQUITY = Decimal(10_000)


class ScriptedAccount(SimExchange):
    """The simulated exchange, with an account whose gross exposure the test sets."""

    gross = Decimal(0)
    down = False

    async def account(self) -> AccountState:
        if self.down:
            raise ConnectionError("account endpoint unreachable")
        positions = ()
        if self.gross > 0:
            positions = (
                PositionState(
                    symbol="BTCUSDT",
                    side=PositionSide.LONG,
                    qty=self.gross / Decimal(50_000),
                    entry_price=Decimal(50_000),
                    mark_price=Decimal(50_000),
                    unrealized_pnl=Decimal(0),
                    leverage=5,
                    liquidation_price=Decimal(1),
                    updated_at=0,
                ),
            )
        return AccountState(
            wallet_balance=EQUITY,
            unrealized_pnl=Decimal(0),
            margin_balance=EQUITY,
            initial_margin=self.gross / 5,
            maint_margin=Decimal(0),
            available_balance=EQUITY - self.gross / 5,
            positions=positions,
        )


def guard(rig: Rig) -> tuple[RiskGuard, ScriptedAccount]:
    exchange = ScriptedAccount(core=rig.exchange.core, clock=rig.clock)
    rg = RiskGuard(
        bus=rig.bus,
        redis=rig.client,
        exchange=exchange,
        clock=rig.clock,
        config=RiskGuardConfig(consumer=ConsumerConfig(block_ms=0)),
    )
    return rg, exchange


async def mode_events(rig: Rig) -> list[Event]:
    return [
        m
        for m in await rig.read(rig.keys.events)
        if isinstance(m, Event) and m.kind == "risk_mode_changed"
    ]


def mode_logs(logs: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(e["log_level"], e["event"]) for e in logs if str(e["event"]).startswith("risk ")]


async def test_gross_exposure_wobbling_at_the_cap_is_one_change_not_forty(rig: Rig) -> None:
    rg, exchange = guard(rig)
    await rg.tick()
    with capture_logs() as logs:
        for i in range(40):  # 2.99× / 3.01× of equity, one tick a second
            exchange.gross = EQUITY * Decimal("3.01" if i % 2 == 0 else "2.99")
            rig.clock.advance(1)
            await rg.tick()
    [event] = await mode_events(rig)
    assert (event.risk_mode, event.severity) == (RiskMode.REDUCE_ONLY, "warning")
    assert event.evidence["added"] == "max_gross_exposure"
    assert mode_logs(logs) == [("warning", "risk mode changed")]
    assert rg.stats.mode_changes == 1

    # Back under 90 % of the cap (and past the minute of dwell): one recovery, at info.
    exchange.gross = EQUITY * Decimal("2.5")
    rig.clock.advance(60)
    with capture_logs() as logs:
        await rg.tick()
        await rg.tick()
    events = await mode_events(rig)
    assert [(e.risk_mode, e.severity) for e in events[1:]] == [(RiskMode.NORMAL, "info")]
    assert mode_logs(logs) == [("warning", "risk mode changed")]  # a real change of mode


async def test_a_change_of_reasons_under_the_same_mode_is_info(rig: Rig) -> None:
    rg, exchange = guard(rig)
    exchange.gross = EQUITY * 4
    await rg.tick()  # REDUCE_ONLY: max_gross_exposure
    exchange.down = True
    with capture_logs() as logs:
        for _ in range(3):  # equity ages past 30 s: EQUITY_STALE joins, mode stays
            rig.clock.advance(15)
            await rg.tick()
    events = await mode_events(rig)
    assert [e.risk_mode for e in events] == [RiskMode.REDUCE_ONLY, RiskMode.REDUCE_ONLY]
    assert events[1].severity == "info" and events[1].evidence["added"] == "EQUITY_STALE"
    assert mode_logs(logs) == [("info", "risk reasons changed")]
    assert (rg.stats.mode_changes, rg.stats.reason_changes) == (1, 1)


async def test_a_repeated_same_mode_publishes_and_logs_nothing(rig: Rig) -> None:
    rg, exchange = guard(rig)
    exchange.gross = EQUITY * 4
    await rg.tick()
    assert len(await mode_events(rig)) == 1
    with capture_logs() as logs:
        for _ in range(30):
            rig.clock.advance(1)
            await rg.tick()
    assert len(await mode_events(rig)) == 1
    assert mode_logs(logs) == []
    assert rg.stats.ticks == 31 and rg.stats.mode_changes == 1
