"""The dashboard's API on a real Redis: logins and roles, idempotent actions, and every
action going through the system's own keys and exit lane."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.bus.codec import decode, encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event, MarketBar, OperatorAction, Plan, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.dashboard.server import RemoteBindRefused, check_bind
from quantum_trader.decide.entry_gates import GateLimits
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.runtime.safety_state import SafetyStore
from quantum_trader.services.entry_gate import GateAnswer, Lease, RedisEntryGate

from .conftest import NOW, Served, dashboard_settings, hold, position, serve


async def until(check: Callable[[], Awaitable[bool]], rounds: int = 400) -> None:
    """Bounded polling: ``check`` must hold within ``rounds`` looks, 10 ms apart."""
    for _ in range(rounds):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def stream(served: Served, name: str) -> list[Any]:
    return [decode(f[b"msg"]) for _, f in await served.redis.xrange(served.keys.stream(name))]


async def act(served: Served, token: str, action: str, key: str, **body: Any) -> tuple[int, Any]:
    return await served.call(
        "POST", f"/api/actions/{action}", token, json={"confirm": True, **body},
        headers={"Idempotency-Key": key},
    )  # fmt: skip


async def test_the_dashboard_listens_and_logs_in_as_its_settings_say(
    redis_server: EmbeddedRedis, keys: Keys, tmp_path: Path
) -> None:
    with pytest.raises(RemoteBindRefused, match="--allow-remote"):
        check_bind("0.0.0.0", allow_remote=False)
    check_bind("0.0.0.0", allow_remote=True)
    check_bind("::1", allow_remote=False)
    settings = dashboard_settings(tmp_path, access_token_ttl_s=60, login_attempts=2)
    async for served in serve(redis_server, keys, settings, SimClock(NOW)):
        form = {"username": "alice", "password": "alice-password"}
        status, body = await served.call("POST", "/api/auth/token", data=form)
        assert status == 200 and body["expires_in"] == 60 and body["role"] == "admin"
        wrong = {"username": "alice", "password": "nope"}
        for _ in range(2):
            assert (await served.call("POST", "/api/auth/token", data=wrong))[0] == 401
        status, body = await served.call("POST", "/api/auth/token", data=form)
        assert status == 429 and "try again" in body["detail"]  # even the right password
        unknown = {"username": "mallory", "password": "x"}
        # the client address is limited too: another name from it waits as well
        assert (await served.call("POST", "/api/auth/token", data=unknown))[0] == 429


async def test_every_read_and_page_needs_a_login(served: Served) -> None:
    for path in ("/api/overview", "/api/positions", "/api/orders", "/api/health", "/api/risk",
                 "/api/trades", "/api/trace/BTCUSDT:qe-x", "/api/audit", "/live",
                 "/fragment/positions"):  # fmt: skip
        assert (await served.call("GET", path))[0] == 401, path
    status, _ = await served.call("GET", "/positions")
    assert status == 303  # to the login page
    assert (await served.call("GET", "/api/positions", token="forged.token.x"))[0] == 401
    status, body = await served.call("GET", "/api/positions", await served.token("bob"))
    assert status == 200 and body["positions"] == []


async def test_a_viewer_reads_everything_but_cannot_act(served: Served) -> None:
    await hold(served, position())
    bob = await served.token("bob")
    for path in ("/api/overview", "/api/positions", "/api/health", "/api/settings"):
        assert (await served.call("GET", path, bob))[0] == 200, path
    status, body = await act(served, bob, "kill_switch_on", "k" * 20, reason="try")
    assert status == 403 and body["result"] == "forbidden"
    status, _ = await act(served, bob, "close", "c" * 20, symbol="BTCUSDT",
                          position_id=position().position_id, pct="100")  # fmt: skip
    assert status == 403
    assert not await served.redis.exists(served.keys.risk_kill_switch)
    assert await stream(served, "apply.exit") == []
    audit = [a for a in await stream(served, "audit") if isinstance(a, OperatorAction)]
    assert [(a.user, a.role, a.action, a.result) for a in audit] == [
        ("bob", "viewer", "kill_switch_on", "forbidden"),
        ("bob", "viewer", "close", "forbidden"),
    ]


async def test_a_repeated_close_sends_one_exit_plan(served: Served) -> None:
    p = position()
    await hold(served, p)
    alice = await served.token("alice")
    body = {"symbol": "BTCUSDT", "position_id": p.position_id, "pct": "50"}
    answers = await asyncio.gather(*(act(served, alice, "close", "double-click-0001", **body)
                                     for _ in range(5)))  # fmt: skip
    assert all(status == 200 for status, _ in answers)
    assert sum(not b["replayed"] for _, b in answers) == 1
    (plan,) = [m for m in await stream(served, "apply.exit") if isinstance(m, Plan)]
    assert (plan.kind, plan.action, plan.position_id) == (
        PlanKind.CLOSE, PlanAction.PARTIAL_50, p.position_id,
    )  # fmt: skip
    assert plan.reason_codes == ("operator_close",) and plan.source == "dashboard"
    assert plan.plan_id == derive_id("operator-exit", "double-click-0001")
    assert {b["plan_id"] for _, b in answers} == {plan.plan_id}
    status, again = await act(served, alice, "close", "double-click-0001", **body)
    assert again["replayed"] and len(await stream(served, "apply.exit")) == 1
    status, other = await act(served, alice, "close", "double-click-0001", **{**body, "pct": "25"})
    assert status == 409 and "another action" in other["detail"]
    status, _ = await act(served, alice, "close", "second-close-0001", **body)
    assert status == 200 and len(await stream(served, "apply.exit")) == 2
    (record, second) = [a for a in await stream(served, "audit") if isinstance(a, OperatorAction)]
    assert (record.user, record.action, record.result, record.plan_id) == (
        "alice", "close", "accepted", plan.plan_id,
    )  # fmt: skip
    assert second.action_id == "second-close-0001"


async def test_a_close_of_a_position_that_changed_or_left_sends_nothing(served: Served) -> None:
    alice = await served.token("alice")
    gone = {"symbol": "ETHUSDT", "position_id": "ETHUSDT:qe-x", "pct": "100"}
    status, body = await act(served, alice, "close", "gone-position-01", **gone)
    assert status == 409 and "no open position" in body["detail"]
    await hold(served, position())
    stale = {"symbol": "BTCUSDT", "position_id": "BTCUSDT:qe-older", "pct": "100"}
    status, body = await act(served, alice, "close", "stale-position-1", **stale)
    assert status == 409 and "not the one shown" in body["detail"]
    status, _ = await act(served, alice, "close", "unconfirmed-0001", symbol="BTCUSDT")
    assert status == 409
    status, body = await served.call(
        "POST",
        "/api/actions/kill_switch_on",
        alice,
        json={"reason": "x"},
        headers={"Idempotency-Key": "k" * 16},
    )
    assert status == 400 and "confirm" in body["detail"]  # fmt: skip
    assert await stream(served, "apply.exit") == []


async def test_a_stop_moves_only_tighter_and_never_through_the_price(served: Served) -> None:
    p = position()
    await hold(served, p)
    bar = MarketBar(msg_id="bar-1", ts_event=NOW, ts_init=NOW, source="t", symbol="BTCUSDT",
                    interval="1m", open_time=NOW - 60_000, close_time=NOW - 1,
                    open=Decimal("42100"), high=Decimal("42300"), low=Decimal("42000"),
                    close=Decimal("42200"), volume=Decimal(5))  # fmt: skip
    await served.redis.xadd(served.keys.market, {"msg": encode(bar)})
    alice = await served.token("alice")

    async def marked() -> bool:
        return (await served.call("GET", "/api/positions", alice))[1]["positions"][0][
            "mark"
        ] == "42200"

    await until(marked)
    move = {"symbol": "BTCUSDT", "position_id": p.position_id}
    for n, (price, why) in enumerate([
        ("41400.0", "only be tightened"), ("42190.0", "at least"), ("42500", "at least"),
        ("41800.05", "tick"), ("abc", "not a price"),
    ]):  # fmt: skip
        status, body = await act(served, alice, "move_stop", f"bad-stop-move-{n:03}",
                                 stop_price=price, **move)  # fmt: skip
        assert status == 409 and why in body["detail"], (price, body)
    assert await stream(served, "apply.exit") == []
    status, body = await act(served, alice, "move_stop", "good-stop-move-1", stop_price="41800.0",
                             **move)  # fmt: skip
    assert status == 200, body
    (plan,) = await stream(served, "apply.exit")
    assert (plan.action, plan.stop_price, plan.reason_codes) == (
        PlanAction.UPDATE_STOP, Decimal("41800.0"), ("operator_stop",),
    )  # fmt: skip


async def test_kill_switch_pause_and_breaker_go_through_the_keys_the_gate_reads(
    served: Served,
) -> None:
    keys, redis, alice = served.keys, served.redis, await served.token("alice")
    status, body = await act(served, alice, "kill_switch_on", "kill-switch-on-01", reason="news")
    assert status == 200 and "ON" in body["detail"]
    switch = json.loads(await redis.get(keys.risk_kill_switch))
    assert (switch["reason"], switch["by"], switch["at"]) == ("news", "alice", NOW)
    store = SafetyStore(served.ctx.settings.data_dir, keys.prefix)
    assert store.read()["kill_switch"]["reason"] == "news"  # what a lost Redis restores
    await act(served, alice, "kill_switch_off", "kill-switch-off-1")
    assert not await redis.exists(keys.risk_kill_switch) and "kill_switch" not in store.read()

    status, body = await act(served, alice, "pause_entries", "pause-entries-01",
                             symbol="solusdt", minutes="30", reason="listing news")  # fmt: skip
    assert status == 200 and "SOLUSDT" in body["detail"]
    lock = json.loads(await redis.get(keys.pause_entries("SOLUSDT")))
    assert lock["until"] == NOW + 30 * 60_000 and lock["by"] == "alice"
    await redis.set(keys.risk_state, json.dumps({"mode": "NORMAL", "updated_at": NOW}))
    gate = RedisEntryGate(redis, keys, ["SOLUSDT", "BTCUSDT"], GateLimits())

    async def entry(symbol: str, now: int) -> tuple[GateAnswer, str]:
        plan = f"p-{symbol}-{now}"
        found = await gate.check_and_reserve(
            plan_id=plan, symbol=symbol, side=PositionSide.LONG, notional=Decimal(10),
            expires_at=now + 1, lease=Lease(plan, "qe-x", PositionSide.LONG, Decimal(10), now),
            now=now,
        )  # fmt: skip
        return found.answer, found.reason

    assert await entry("SOLUSDT", NOW) == (GateAnswer.SKIP, "symbol_paused")
    assert (await entry("BTCUSDT", NOW))[0] is GateAnswer.ALLOW
    later = NOW + 30 * 60_000
    await redis.set(keys.risk_state, json.dumps({"mode": "NORMAL", "updated_at": later}))
    assert (await entry("SOLUSDT", later))[0] is GateAnswer.ALLOW  # it ended
    status, _ = await act(served, alice, "pause_entries", "pause-too-long-1", symbol="BTCUSDT",
                          minutes=str(8 * 24 * 60), reason="x")  # fmt: skip
    assert status == 409
    await act(served, alice, "resume_entries", "resume-entries-1", symbol="SOLUSDT")
    assert not await redis.exists(keys.pause_entries("SOLUSDT"))

    await redis.set(keys.risk_circuit, json.dumps({"reason": "double_entry", "at": NOW - 5}))
    status, body = await act(served, alice, "reset_breaker", "reset-breaker-01", reason="fixed")
    assert status == 200 and "double_entry" in body["detail"]
    assert not await redis.exists(keys.risk_circuit)
    (event,) = [e for e in await stream(served, "events") if isinstance(e, Event)]
    assert (event.kind, event.evidence["tripped_by"]) == ("circuit_breaker_reset", "double_entry")


async def test_a_cookie_login_must_send_its_csrf_token_to_act(served: Served) -> None:
    form = {"username": "alice", "password": "alice-password"}
    async with served.http.post(f"{served.url}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303
    page = (await served.call("GET", "/"))[1]
    csrf = page.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
    action = {"key": "csrf-test-key-0001", "confirm": "yes", "reason": "test"}
    status, _ = await served.call("POST", "/actions/kill_switch_on", data=action)
    assert status == 403 and not await served.redis.exists(served.keys.risk_kill_switch)
    origin = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    status, _ = await served.call("POST", "/actions/kill_switch_on", data=action, headers=origin)
    assert status == 403
    status, html = await served.call("POST", "/actions/kill_switch_on", data=action,
                                     headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert status == 200 and 'data-result="accepted"' in html
    assert await served.redis.exists(served.keys.risk_kill_switch)


async def test_a_change_reaches_an_open_live_stream(served: Served) -> None:
    alice = await served.token("alice")
    headers = {"Authorization": f"Bearer {alice}"}
    async with served.http.get(f"{served.url}/live", headers=headers) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        assert b"event: hello" in await r.content.readuntil(b"\n\n")
        await hold(served, position("ETHUSDT"))
        seen: list[bytes] = []
        while b"event: positions" not in b"".join(seen):
            seen.append(await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5))
