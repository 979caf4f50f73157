"""The circuit breaker halts entries on a runtime invariant breach; only an operator clears it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import FillEvent, derive_id
from quantum_trader.domain.enums import Side
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.runtime.circuit_breaker import CircuitBreaker
from tests.integration.apply.rig import make_rig


def fill(
    n: int, coid: str, side: Side, qty: str, order: str, reduce_only: bool = False
) -> FillEvent:
    return FillEvent(
        msg_id=derive_id("f", n),
        ts_event=n,
        ts_init=n,
        source="test",
        symbol="ETHUSDT",
        trade_id=str(n),
        exchange_order_id=order,
        client_order_id=coid,
        side=side,
        price=Decimal("3000"),
        qty=Decimal(qty),
        commission=Decimal("0.1"),
        commission_asset="USDT",
        realized_pnl=Decimal(0),
        maker=False,
        reduce_only=reduce_only,
    )


@pytest.mark.parametrize(
    ("fills", "check"),
    [
        (
            [("e", Side.BUY, "0.066", "1"), ("e", Side.BUY, "0.066", "2")],
            "two_entry_orders_for_one_plan",
        ),
        (
            [("e", Side.BUY, "0.066", "1"), ("x", Side.BUY, "0.010", "3", True)],
            "reduce_only_grew_position",
        ),
        (
            [("e", Side.BUY, "0.066", "1"), ("e", Side.BUY, "0.010", "1")],
            "position_larger_than_any_plan",
        ),
    ],
)
async def test_a_runtime_invariant_breach_halts_entries_until_an_operator_clears_it(
    redis_client: aioredis.Redis,
    keys: Keys,
    fills: list[tuple],
    check: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = await make_rig(redis_client, keys)
    plan = rig.open_plan("ETHUSDT", 1)
    assert plan.qty == Decimal("0.066")
    await rig.bus.publish(keys.apply_plan, plan)
    entry = client_order_id("e", plan.plan_id)
    for n, (kind, side, qty, order, *ro) in enumerate(fills, start=1):
        coid = entry if kind == "e" else client_order_id("x", f"exit-{n}")
        await rig.bus.publish(keys.fills, fill(n, coid, side, qty, order, bool(ro)))
    breaker = CircuitBreaker(rig.bus, redis_client)
    await breaker.poll()
    tripped = json.loads(await redis_client.get(keys.risk_circuit))
    assert tripped["mode"] == "HALT" and tripped["reason"] == check
    assert tripped["evidence"]["symbol"] == "ETHUSDT"
    # Entries stop: the apply layer's gate reads the breaker.
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(keys.apply_plan, rig.open_plan("SOLUSDT", 2))
    await rig.drain(c)
    assert [r.reason for r in await rig.results() if r.symbol == "SOLUSDT"] == ["risk_halt"]
    # Nothing but an operator clears it.
    await breaker.poll()
    assert await redis_client.exists(keys.risk_circuit)
    from quantum_trader import cli

    cli._mount_optional()
    monkeypatch.setenv("QUANTUM_REDIS_URL", _url(redis_client))
    monkeypatch.setenv("QUANTUM_KEY_PREFIX", keys.prefix)
    result = CliRunner().invoke(cli.app, ["kill-switch", "reset-breaker", "--reason", "checked"])
    assert result.exit_code == 0, result.output
    assert "cleared" in result.output
    assert not await redis_client.exists(keys.risk_circuit)


def _url(client: aioredis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


async def test_a_fill_delivered_again_after_a_state_loss_is_one_trade_not_a_breach(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    """After a FLUSHALL the execution pump's dedupe keys are gone and it may forward a
    fill again, under a new message id: the breaker counts the trade once (it tripped
    on that — "position larger than any plan" — on a lost Redis)."""
    rig = await make_rig(redis_client, keys)
    plan = rig.open_plan("ETHUSDT", 1)
    await rig.bus.publish(keys.apply_plan, plan)
    entry = fill(1, client_order_id("e", plan.plan_id), Side.BUY, "0.066", "1")
    again = FillEvent(**{**{f: getattr(entry, f) for f in entry.__struct_fields__}, "msg_id": "re"})
    await rig.bus.publish(keys.fills, entry)
    await rig.bus.publish(keys.fills, again)
    breaker = CircuitBreaker(rig.bus, redis_client)
    await breaker.poll()
    assert not await redis_client.exists(keys.risk_circuit)
    assert breaker.position["ETHUSDT"] == Decimal("0.066")


async def test_a_reduce_only_fill_without_its_opening_in_the_history_is_no_breach(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    """A position opened before the retained history (streams trimmed, or lost with
    Redis) closed by hand: the breaker cannot judge it, so it re-reads the position
    from the reconciled ledger instead of halting the system on a wrong premise."""
    rig = await make_rig(redis_client, keys)
    await rig.bus.publish(keys.fills, fill(1, "web_manual_1", Side.SELL, "0.5", "9", True))
    breaker = CircuitBreaker(rig.bus, redis_client)
    await breaker.poll()
    assert not await redis_client.exists(keys.risk_circuit)
    assert breaker.unknown == {"ETHUSDT"}
    await breaker.poll()  # the ledger has no ETHUSDT position: flat
    assert breaker.unknown == set() and breaker.position["ETHUSDT"] == 0


async def test_an_entry_whose_plan_the_history_lacks_is_not_judged(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    """The breaker restarted after a state loss: the plan of an entry that fills now is
    not on the streams any more. Its size cannot be judged against other plans."""
    rig = await make_rig(redis_client, keys)
    small = rig.open_plan("ETHUSDT", 1)
    await rig.bus.publish(keys.apply_plan, small)
    unseen = client_order_id("e", "a-plan-from-before-the-loss")
    await rig.bus.publish(keys.fills, fill(1, unseen, Side.BUY, "0.5", "7"))
    breaker = CircuitBreaker(rig.bus, redis_client)
    await breaker.poll()
    assert not await redis_client.exists(keys.risk_circuit)
