"""risk-guard on real Redis: the mode it writes, the events it publishes, and what moves it."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.schemas import Event, FillEvent
from quantum_trader.domain.enums import RiskMode, Side
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import AccountState, Fill
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.runtime.safety_state import SafetyStore
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.risk_guard import RiskGuard, RiskGuardConfig, build_risk_guard
from tests.integration.services.market_rig import Rig


class AccountOutage(SimExchange):
    """The simulated exchange, with an account endpoint that can be switched off."""

    down = False

    async def account(self) -> AccountState:
        if self.down:
            raise ConnectionError("account endpoint unreachable")
        return await super().account()


def guard(rig: Rig, durable: SafetyStore | None = None, **overrides: object) -> RiskGuard:
    values: dict[str, object] = {"consumer": ConsumerConfig(block_ms=0), **overrides}
    return RiskGuard(
        bus=rig.bus,
        redis=rig.client,
        exchange=rig.exchange,
        clock=rig.clock,
        config=RiskGuardConfig(**values),  # type: ignore[arg-type]
        durable=durable,
    )


async def written(rig: Rig) -> dict[str, object]:
    assert await rig.client.type(rig.keys.risk_state) == b"string"  # FAILURES #9
    raw = await rig.client.get(rig.keys.risk_state)
    assert isinstance(raw, bytes)
    value = json.loads(raw)
    assert isinstance(value, dict)
    return value


async def mode_events(rig: Rig) -> list[Event]:
    found = [m for m in await rig.read(rig.keys.events) if isinstance(m, Event)]
    assert all(e.kind == "risk_mode_changed" for e in found)
    return found


def closing_fill(
    n: int, order: str, pnl: str, ts: int, commission: str = "0.5", reduce_only: bool = True
) -> FillEvent:
    """A SELL of 0.01 BTC closing part of a long opened at 30,000 (see ``opened``), priced
    so that it realizes ``pnl``."""
    qty = Decimal("0.01")
    return FillEvent(
        msg_id=f"fill-{n}",
        ts_event=ts,
        ts_init=ts,
        source="exchange",
        symbol="BTCUSDT",
        trade_id=str(n),
        exchange_order_id=f"x-{order}",
        client_order_id=order,
        side=Side.SELL,
        price=ENTRY + Decimal(pnl) / qty,
        qty=qty,
        commission=Decimal(commission),
        commission_asset="USDT",
        realized_pnl=Decimal(pnl),
        maker=False,
        reduce_only=reduce_only,
    )


ENTRY = Decimal(30000)


async def trade(
    rig: Rig, consumer: StreamConsumer, n: int, pnls: list[str], *redelivered: int
) -> None:
    """One position: a long of 0.01 BTC per exit fill, opened at 30,000 and folded into
    the ledger as the apply layer folds its entries (fee 0.5), then closed by exit
    orders (a harvest tranche, a stop…) of one fill each realizing ``pnls`` (each
    published, the ``redelivered`` ones twice), read by the guard."""
    now = rig.clock.now_ms()
    qty = Decimal("0.01") * len(pnls)
    entry = Fill("BTCUSDT", f"e{n}", f"xe{n}", f"qe-{n}", Side.BUY, ENTRY, qty, Decimal("0.5"),
                 "USDT", ZERO, False, False, now)  # fmt: skip
    await RedisLedger(rig.client, rig.keys).record_fill(entry, 5)
    exits = [closing_fill(n * 10 + k, f"qx-{n}-{k}", pnl, now) for k, pnl in enumerate(pnls)]
    await rig.bus.publish_many(rig.keys.fills, exits + [exits[k] for k in redelivered])
    await rig.drain(consumer)


async def test_healthy_account_writes_normal_as_a_json_string_and_no_event(rig: Rig) -> None:
    rg = guard(rig)
    await rg.tick()
    state = await written(rig)
    assert state == {"mode": "NORMAL", "reasons": [], "since": 0, "updated_at": rig.clock.now_ms()}
    assert await mode_events(rig) == []


async def test_stale_equity_turns_reduce_only_with_one_event_and_recovers(rig: Rig) -> None:
    rig.exchange = AccountOutage(core=rig.exchange.core, clock=rig.clock)
    rg = guard(rig)
    await rg.tick()
    rig.exchange.down = True
    for _ in range(3):  # equity_max_age_ms is 30 s: the third tick is past it
        rig.clock.advance(15)
        await rg.tick()
    rig.clock.advance(15)
    await rg.tick()  # still stale: no second event
    stale_at = rig.clock.now_ms() - 15_000
    state = await written(rig)
    assert (state["mode"], state["reasons"], state["since"]) == (
        "REDUCE_ONLY",
        ["EQUITY_STALE"],
        stale_at,
    )
    [event] = await mode_events(rig)
    assert event.risk_mode is RiskMode.REDUCE_ONLY
    assert event.evidence["added"] == "EQUITY_STALE" and event.evidence["removed"] == ""
    assert event.detail == "NORMAL -> REDUCE_ONLY: EQUITY_STALE"
    assert rg.stats.account_failures == 4

    rig.exchange.down = False
    await rg.tick()
    assert (await written(rig))["mode"] == "NORMAL"
    events = await mode_events(rig)
    assert [e.risk_mode for e in events] == [RiskMode.REDUCE_ONLY, RiskMode.NORMAL]
    assert events[1].evidence["removed"] == "EQUITY_STALE"


async def test_kill_switch_halts_entries_and_releasing_it_returns_to_normal(rig: Rig) -> None:
    rg = guard(rig)
    await rg.tick()
    await rig.client.set(
        rig.keys.risk_kill_switch, json.dumps({"reason": "exchange maintenance", "at": 1})
    )
    rig.clock.advance(1)
    await rg.tick()
    state = await written(rig)
    assert (state["mode"], state["reasons"]) == ("HALT", ["kill_switch"])
    assert rg.state.kill_switch_reason == "exchange maintenance"

    await rig.client.delete(rig.keys.risk_kill_switch)
    rig.clock.advance(1)
    await rg.tick()
    assert (await written(rig))["mode"] == "NORMAL"
    assert [(e.risk_mode, e.evidence["added"]) for e in await mode_events(rig)] == [
        (RiskMode.HALT, "kill_switch"),
        (RiskMode.NORMAL, ""),
    ]


async def test_unreadable_kill_switch_still_counts_as_engaged(rig: Rig) -> None:
    rg = guard(rig)
    await rig.client.set(rig.keys.risk_kill_switch, "stop!")
    await rg.tick()
    assert (await written(rig))["mode"] == "HALT"


async def test_losing_positions_lock_entries_out_per_position_not_per_fill(rig: Rig) -> None:
    rg = guard(rig)  # consecutive_loss_limit 4, lockout 1 h
    consumer = rg.consumer("rg-1")
    await consumer.start()
    # Three losing positions, the first closed in three fills, one fill redelivered.
    await trade(rig, consumer, 1, ["-4", "-3", "-3"])
    await trade(rig, consumer, 2, ["-10"])
    await trade(rig, consumer, 3, ["-10"], 0)
    rig.clock.advance(1)  # the closes have been quiet for fill_settle_ms
    await rg.tick()
    assert rg.stats.trades_closed == 3 and rg.state.loss_streak == 3
    assert (await written(rig))["mode"] == "NORMAL"

    await trade(rig, consumer, 4, ["-10"])
    rig.clock.advance(1)
    await rg.tick()
    state = await written(rig)
    assert (state["mode"], state["reasons"]) == ("REDUCE_ONLY", ["consecutive_losses"])
    [event] = await mode_events(rig)
    assert event.evidence["added"] == "consecutive_losses"

    rig.clock.advance(3600)  # the lockout expires by itself
    await rg.tick()
    assert (await written(rig))["mode"] == "NORMAL"


async def test_a_position_counts_net_of_all_its_fees_and_a_partial_profit_is_no_win(
    rig: Rig,
) -> None:
    """A take-profit tranche in profit and the rest stopped at a loss is one losing trade
    (the backtester counts it so); a close that covers its exit fee but not its entry fee
    is a loss; an entry fill is no close."""
    rg = guard(rig)
    consumer = rg.consumer("rg-1")
    await consumer.start()
    await trade(rig, consumer, 1, ["-10"])
    await trade(rig, consumer, 2, ["5", "-10"])  # a harvest, then the stop
    await trade(rig, consumer, 3, ["0.6"])  # −0.4 after the entry's and the exit's fee
    entry = closing_fill(40, "qe-9", "-3", rig.clock.now_ms(), reduce_only=False)
    await rig.bus.publish(rig.keys.fills, entry)
    await rig.drain(consumer)
    rig.clock.advance(1)
    await rg.tick()
    assert rg.state.loss_streak == 3 and rg.stats.trades_closed == 3
    await trade(rig, consumer, 5, ["25"])
    rig.clock.advance(1)
    await rg.tick()
    assert rg.state.loss_streak == 0 and rg.state.mode is RiskMode.NORMAL


async def test_factory_wires_the_fills_consumer_and_the_risk_tick(rig: Rig) -> None:
    runtime = build_risk_guard(
        bus=rig.bus,
        redis=rig.client,
        exchange=rig.exchange,
        clock=rig.clock,
        config=RiskGuardConfig(),
        consumer_name="rg-1",
    )
    assert runtime.name == "risk-guard"
    assert [(c.group, list(c.streams)) for c in runtime.consumers] == [
        ("risk-guard", [rig.keys.fills])
    ]
    assert [(j.name, j.interval_s) for j in runtime.jobs] == [("risk-check", 1.0)]


async def test_running_service_writes_the_state_and_its_heartbeat_then_stops(rig: Rig) -> None:
    runtime = build_risk_guard(
        bus=rig.bus,
        redis=rig.client,
        exchange=rig.exchange,
        clock=rig.clock,
        config=RiskGuardConfig(consumer=ConsumerConfig(block_ms=5)),
        consumer_name="rg-1",
    )
    task = asyncio.create_task(runtime.run())
    for _ in range(10_000):  # event-loop turns, not time: the first tick runs at start
        if await rig.client.exists(rig.keys.risk_state, rig.keys.health("risk-guard")) == 2:
            break
        await asyncio.sleep(0)
    assert (await written(rig))["mode"] == "NORMAL"
    runtime.stop_event.set()
    rig.clock.advance(2)  # wake the job and heartbeat loops parked on the simulated clock
    await asyncio.wait_for(task, 5)
    assert runtime.status == "stopped"


async def test_a_restarted_guard_keeps_a_lockout_from_its_durable_copy(
    rig: Rig, tmp_path: Path
) -> None:
    """A losing streak locked entries out; the guard then restarts (a crash, or Redis
    forgot ``risk:state``). Restored from the data directory, it still refuses entries;
    started cold — as it did — it would trade at once."""
    store = SafetyStore(tmp_path, rig.keys.prefix)
    rg = guard(rig, durable=store)
    consumer = rg.consumer("rg-1")
    await consumer.start()
    for n in range(1, 5):
        await trade(rig, consumer, n, ["-10"])
    rig.clock.advance(1)
    await rg.tick()
    assert (await written(rig))["reasons"] == ["consecutive_losses"]

    await rig.client.delete(rig.keys.risk_state)
    restarted = guard(rig, durable=store)
    await restarted.tick()
    assert (await written(rig))["mode"] == "REDUCE_ONLY"
    assert restarted.state.loss_lockout_until == rg.state.loss_lockout_until
    cold = guard(rig)
    await cold.tick()
    assert (await written(rig))["mode"] == "NORMAL"  # what a restart used to do

    rig.clock.advance(3600)  # the lockout still expires by itself
    await restarted.tick()
    assert (await written(rig))["mode"] == "NORMAL"
    assert store.read()["risk_state"]["mode"] == "NORMAL"
