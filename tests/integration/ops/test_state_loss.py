"""Redis lies: a FLUSHALL (or a failover to an empty replica, a lost AOF) must not clear
the kill switch or the breaker, nor let entries through on "nothing there" (invariants
2 and 7). Reproduced as reported: kill switch ON and a BTC long with its stop; FLUSHALL;
an OPEN plan for BTC and one for SOL — before, both executed and the switch read "off".
A real redis-server of its own (FLUSHALL would touch other tests' keys).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import typer
from typer.testing import CliRunner

from quantum_trader.bus.codec import decode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event
from quantum_trader.cli.kill_switch import app as kill_switch_app
from quantum_trader.cli.state_marker import app as state_app
from quantum_trader.decide import reasons
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.runtime.safety_state import (
    ForeignState,
    SafetyStore,
    StateGuard,
    establish_epoch,
)
from quantum_trader.services.position_monitor import PositionMonitor
from tests.integration.apply.rig import ApplyRig, make_rig

KEYS = Keys("qt:")
app = typer.Typer()  # the two sub-commands as `quantum` mounts them
app.add_typer(kill_switch_app, name="kill-switch")
app.add_typer(state_app, name="state")


@pytest.fixture
def client(own_redis_client: aioredis.Redis) -> aioredis.Redis:
    return own_redis_client


def monitor(rig: ApplyRig) -> PositionMonitor:
    return rig.monitor()


async def test_establishing_the_epoch_first_start_restart_loss_and_a_foreign_system(
    client: aioredis.Redis, tmp_path: Path
) -> None:
    store = SafetyStore(tmp_path / "var", KEYS.prefix)
    assert await establish_epoch(client, KEYS, store, "e1") == ("e1", False)  # first start
    assert store.read()["epoch"] == "e1"
    assert await establish_epoch(client, KEYS, store, "e2") == ("e1", False)  # restart
    store.update(kill_switch={"reason": "desk says stop", "at": 1})
    await client.flushall()
    assert await establish_epoch(client, KEYS, store, "e3") == ("e1", True)  # lost
    assert not await client.exists(KEYS.epoch), "a lost state is not re-marked at start"
    switch = await client.get(KEYS.risk_kill_switch)
    assert switch is not None and json.loads(switch)["reason"] == "desk says stop"
    await client.set(KEYS.epoch, "someone-else")
    with pytest.raises(ForeignState, match="another system's state"):
        await establish_epoch(client, KEYS, store, "e4")
    joining = SafetyStore(tmp_path / "host-b", KEYS.prefix)  # a second host's data dir
    assert await establish_epoch(client, KEYS, joining, "e5") == ("someone-else", False)


async def test_a_flushall_keeps_the_kill_switch_and_halts_entries_until_confirmed(
    client: aioredis.Redis,
    own_redis: EmbeddedRedis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SafetyStore(tmp_path / "var", KEYS.prefix)
    epoch, lost = await establish_epoch(client, KEYS, store, "epoch-1")
    assert not lost
    rig = await make_rig(client, KEYS, cooldown_ms=0, epoch=epoch)
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(KEYS.apply_plan, rig.open_plan("BTCUSDT", 1))
    await rig.drain(c)
    assert len(rig.orders(entries_only=True)) == 1  # the BTC long, with its stop
    monkeypatch.setenv("QUANTUM_REDIS_URL", own_redis.url)
    monkeypatch.setenv("QUANTUM_KEY_PREFIX", KEYS.prefix)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli = CliRunner()
    on = cli.invoke(app, ["kill-switch", "on", "--reason", "desk says stop"])
    assert on.exit_code == 0, on.output
    assert store.read()["kill_switch"]["reason"] == "desk says stop"

    await client.flushall()
    guard = StateGuard(client, rig.bus, store, epoch)
    assert not await guard.check()
    switch = await client.get(KEYS.risk_kill_switch)
    assert switch is not None, "the kill switch came back from the data directory"
    assert json.loads(switch)["reason"] == "desk says stop"
    events = [decode(f[b"msg"]) for _, f in await client.xrange(KEYS.events)]
    assert any(isinstance(e, Event) and e.kind == "state_lost" for e in events)

    await c.start()  # the group went with the flush
    assert cli.invoke(app, ["kill-switch", "off"]).exit_code == 0  # even with it off …
    for symbol, n in (("BTCUSDT", 2), ("SOLUSDT", 1)):
        await rig.bus.publish(KEYS.apply_plan, rig.open_plan(symbol, n))
    await rig.drain(c)
    results = await rig.results()
    assert [r.reason for r in results] == [reasons.STATE_LOST, reasons.STATE_LOST]
    assert len(rig.orders(entries_only=True)) == 1  # … nothing entered on "nothing there"
    shown = cli.invoke(app, ["state", "show", "--json"])
    shown_state = json.loads(shown.output)
    assert shown_state["state"] == "lost" and "durable_risk_mode" in shown_state

    confirm = ["state", "confirm", "--reason", "checked the account"]
    early = await asyncio.to_thread(cli.invoke, app, confirm)  # its own event loop
    assert early.exit_code == 2 and "no reconcile round since the loss" in early.output
    await monitor(rig).reconcile_once()  # the ledger rebuilt from the exchange
    adopted = await rig.layer.ledger.read("BTCUSDT")
    assert adopted is not None and adopted.qty > 0
    confirmed = await asyncio.to_thread(cli.invoke, app, confirm)
    assert confirmed.exit_code == 0, confirmed.output
    assert await guard.check()
    await rig.bus.publish(KEYS.apply_plan, rig.open_plan("SOLUSDT", 2))
    await rig.drain(c)
    assert (await rig.results())[-1].executed
    assert {o.symbol for o in rig.orders(entries_only=True)} == {"BTCUSDT", "SOLUSDT"}


async def test_a_stale_risk_mode_counts_as_reduce_only(client: aioredis.Redis) -> None:
    """The risk guard died: its last NORMAL is not trusted for ever."""
    rig = await make_rig(client, KEYS)
    c = rig.consumer("a1")
    await c.start()
    now = rig.clock.now_ms()
    stale = {"mode": "NORMAL", "reasons": [], "updated_at": now - 120_001}
    await client.set(KEYS.risk_state, json.dumps(stale))
    await rig.bus.publish(KEYS.apply_plan, rig.open_plan("ETHUSDT", 1))
    await rig.drain(c)
    assert [r.reason for r in await rig.results()] == [reasons.RISK_STATE_STALE]
    await client.set(KEYS.risk_state, json.dumps({**stale, "updated_at": now}))
    await rig.bus.publish(KEYS.apply_plan, rig.open_plan("ETHUSDT", 2))
    await rig.drain(c)
    assert (await rig.results())[-1].executed
