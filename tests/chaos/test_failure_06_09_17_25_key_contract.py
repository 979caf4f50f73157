"""FAILURES #6, #9, #17 and #25: one table of key names and types, one writer per key.

#6 "valid close intents silently acknowledged and dropped" — reader and writer used
different key names for the ledger.
#9 "WRONGTYPE errors" — the same key written as a string by one service and a hash by
another.
#17 "executor read an empty stream" — stream name in configuration, unchecked.
#25 "keys read that nothing ever wrote (guards that never fired)" — no contract of who
writes what.
"""

from __future__ import annotations

import ast
import inspect
import re
from decimal import Decimal
from pathlib import Path

import pytest

import quantum_trader
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import KEY_TYPES, STREAM_NAMES, Keys
from quantum_trader.bus.schemas import DeadLetter, Message, Plan, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide.exit_model import ExitDecision
from quantum_trader.domain.enums import PlanAction
from quantum_trader.services.exit_brain import ExitBrain
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig

SRC = Path(quantum_trader.__file__).parent


def _keys_api() -> set[str]:
    return {n for n, _ in inspect.getmembers(Keys) if not n.startswith("_")}


def _sample_key(keys: Keys, pattern: str) -> str:
    return keys.prefix + pattern.split("{", 1)[0] + ("X" if "{" in pattern else "")


async def test_failure_06_a_close_from_the_exit_brain_reaches_the_executor_and_runs(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "BNBUSDT")
    brain = ExitBrain(
        rig.layer.ledger,
        RedisEffectStore(rig.redis, rig.keys),
        rig.bus,
        rig.clock,
        rig.layer.instruments,
    )
    decision = ExitDecision(
        plan_id=derive_id("kill", position.position_id),
        position_id=position.position_id,
        symbol="BNBUSDT",
        side=position.side,
        action=PlanAction.FULL_CLOSE,
        fraction=Decimal(1),
        new_stop=None,
        reason_codes=("kill_score",),
        kill_score=Decimal("0.9"),
        kill_components=(),
        r_multiple=Decimal("-0.3"),
        r_net=Decimal("-0.3"),
        created_at=rig.clock.now_ms(),
    )
    await brain.propose(decision, "bar", rig.clock.now_ms())
    c = rig.consumer("apply")
    await c.start()
    await rig.drain(c)
    (result,) = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert result.executed and result.filled_qty == position.qty
    assert await rig.layer.ledger.read("BNBUSDT") is None  # the ledger key the reader reads
    assert not await rig.redis.exists(rig.keys.position("BNBUSDT"))
    assert not [p for p in await rig.exchange.positions() if p.symbol == "BNBUSDT"]


def test_failure_06_no_module_builds_a_key_name_outside_keys_py() -> None:
    heads = {p.split("{", 1)[0].rstrip(":") for p in KEY_TYPES}
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "keys.py" and path.parent.name == "bus":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if "\n" in text or " " in text or text == "quantum:":  # the default prefix
                    continue  # prose (docstrings, messages), not a key
                if text.startswith("quantum:") or any(
                    text.startswith(h + ":") and h not in ("stream",) for h in heads
                ):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {text!r}")
    assert offenders == []


def test_failure_09_every_key_pattern_has_exactly_one_redis_type() -> None:
    keys = Keys("q:")
    assert all(
        t in {"string", "hash", "set", "stream", "zset", "list"} for t, _ in KEY_TYPES.values()
    )
    for pattern, (redis_type, _writer) in KEY_TYPES.items():
        assert keys.expected_type(_sample_key(keys, pattern)) == redis_type, pattern
    assert keys.expected_type(keys.position("BTCUSDT")) == "hash"
    assert keys.expected_type(keys.positions) == "set"
    assert keys.expected_type(keys.risk_state) == "string"
    assert keys.expected_type(keys.apply_exit) == "stream"


async def test_failure_09_every_key_the_system_wrote_has_its_declared_type(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "ETHUSDT")
    c = rig.consumer("a")
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit,
        rig.close_plan("ETHUSDT", position.position_id, PlanAction.PARTIAL_50),
    )
    await rig.drain(c)
    written = [k async for k in rig.redis.scan_iter(match=rig.keys.prefix + "*")]
    assert len(written) >= 8
    for key in written:
        name = key.decode()
        actual = (await rig.redis.type(key)).decode()
        assert rig.keys.expected_type(name) == actual, f"{name} is a {actual}"


async def test_failure_09_wrong_typed_position_key_dead_letters_and_service_keeps_running(
    rig: ApplyRig,
) -> None:
    sol = await open_position(rig, "SOLUSDT")
    await rig.redis.set(rig.keys.position("ETHUSDT"), "written as a string by someone")
    c = StreamConsumer(
        rig.bus,
        [rig.keys.apply_exit, rig.keys.apply_plan],
        "apply-layer",
        "a1",
        rig.layer.handle,
        priority=[rig.keys.apply_exit],
        config=ConsumerConfig(block_ms=0, max_failures=2),
    )
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", "ETHUSDT:x", PlanAction.FULL_CLOSE)
    )
    for _ in range(4):
        await c.poll(0)
    (letter,) = [decode(f[b"msg"]) for _, f in await rig.redis.xrange(rig.keys.dead)]
    assert isinstance(letter, DeadLetter) and "WRONGTYPE" in letter.reason
    # The service kept running: an exit on another symbol still executes.
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("SOLUSDT", sol.position_id, PlanAction.FULL_CLOSE)
    )
    await rig.drain(c)
    results = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert [(r.symbol, r.executed) for r in results] == [("SOLUSDT", True)]
    for stream in (rig.keys.apply_exit, rig.keys.apply_plan):
        assert await rig.bus.transport.pending_count(stream, "apply-layer") == 0
    assert rig.keys.expected_type(rig.keys.position("ETHUSDT")) == "hash"


def test_failure_17_a_misconfigured_stream_name_fails_loudly() -> None:
    keys = Keys()
    for name in ("apply_plan", "apply-plan", "quantum:stream:apply.plan", "apply.plans"):
        with pytest.raises(KeyError, match="unknown stream"):
            keys.stream(name)
    assert {keys.stream(n) for n in STREAM_NAMES} == {
        keys.market,
        keys.trade_intent,
        keys.apply_plan,
        keys.apply_exit,
        keys.apply_result,
        keys.fills,
        keys.events,
        keys.dead,
        keys.audit,
        keys.notify_failed,
    }


async def test_failure_17_producers_and_the_executor_agree_on_stream_names(
    rig: ApplyRig,
) -> None:
    consumer = rig.consumer("a1")
    assert set(consumer.streams) == {rig.keys.stream("apply.plan"), rig.keys.stream("apply.exit")}
    seen: list[str] = []

    async def record(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        seen.append(delivery.stream)

    probe = StreamConsumer(
        rig.bus, consumer.streams, "probe", "p", record, config=ConsumerConfig(block_ms=0)
    )
    await probe.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("ETHUSDT", 1))
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", "ETHUSDT:x", PlanAction.FULL_CLOSE)
    )
    while await probe.poll(0):
        pass
    assert sorted(seen) == sorted([rig.keys.apply_plan, rig.keys.apply_exit])


def test_failure_25_every_key_pattern_declares_a_writer() -> None:
    for pattern, (_type, writer) in KEY_TYPES.items():
        assert writer.strip(), f"{pattern} has no declared writer"
    keys = Keys("q:")
    methods = {
        getattr(Keys, n).fget.__name__ if isinstance(getattr(Keys, n), property) else n
        for n in _keys_api()
    }
    # every declared pattern is reachable through the Keys API
    for pattern in KEY_TYPES:
        if pattern.startswith("stream:"):
            assert keys.stream(pattern.removeprefix("stream:")).endswith(pattern)
            continue
        head = pattern.split("{", 1)[0].rstrip(":")
        name = head.replace(":", "_")
        assert name in methods, f"{pattern}: no Keys.{name}"


def test_failure_25_every_keys_usage_in_src_is_in_the_keys_api() -> None:
    api = _keys_api()
    used: dict[str, str] = {}
    pattern = re.compile(r"\bkeys\.([a-z_]+)\b")
    for path in SRC.rglob("*.py"):
        for m in pattern.finditer(path.read_text()):
            used.setdefault(m.group(1), f"{path.relative_to(SRC)}")
    unknown = {name: where for name, where in used.items() if name not in api}
    assert unknown == {}
    assert len(used) >= 15


def _written_in_src(name: str) -> list[str]:
    """Places in src/ that write ``keys.<name>`` (SET/HSET/DELETE/XADD, directly or via a
    local variable), or the Lua gate that reserves it."""
    ref = re.compile(rf"keys\.{name}\b")
    write = re.compile(r"\.(set|hset|sadd|xadd)\(")
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "keys.py":
            continue
        text = path.read_text()
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not ref.search(line):
                continue
            window = " ".join(lines[max(0, i - 1) : i + 1])
            var = re.match(r"\s*(\w+)\s*=", line)
            if write.search(window) or (
                var and re.search(rf"\.(set|hset)\(\s*{var.group(1)}\b", text)
            ):
                found.append(f"{path.relative_to(SRC)}:{i + 1}")
    return found


def test_failure_25_every_guard_key_the_entry_gate_reads_has_a_writer_in_src() -> None:
    """A guard whose key nothing writes never fires: each one the gate reads needs a writer."""
    lua = "".join(
        (SRC / "services" / name).read_text()
        for name in ("entry_gate_checks.lua", "entry_gate_reserve.lua")
    )
    reserved_by_lua = {"inflight", "plan_done", "cooldown_open"}
    assert "redis.call('SET', KEYS[3]" in lua and "redis.call('SET', KEYS[1]" in lua
    # The cooldown is started by the plan-finish script, whose third key is the cooldown.
    finish = (SRC / "services" / "plan_finish.lua").read_text()
    assert "redis.call('SET', KEYS[3], tonumber(ARGV[7]) + tonumber(ARGV[3])" in finish
    gate = (SRC / "services" / "entry_gate.py").read_text()
    assert "k.cooldown_open(cooled)" in gate
    never_written = [
        name
        for name in (
            "risk_state",
            "risk_supervisor",
            "risk_kill_switch",
            "risk_circuit",
            "cooldown_open",
            "inflight",
            "plan_done",
            "pause_entries",
        )
        if name not in reserved_by_lua and not _written_in_src(name)
    ]
    assert never_written == [], f"read by the entry gate, written by nothing: {never_written}"
