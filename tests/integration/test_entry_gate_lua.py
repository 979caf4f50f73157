"""The Lua gate implements the pure entry rule: the shared case table, run on real Redis."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.decide.entry_gates import GateLimits, GateOutcome, gate_exposure
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import fmt
from quantum_trader.services.entry_gate import GateAnswer, Lease, RedisEntryGate
from tests.unit.decide.gate_cases import GATE_CASES, GateCase

SYMBOL = "BTCUSDT"
OTHERS = [f"SYM{i}USDT" for i in range(120)]


async def materialise(client: aioredis.Redis, keys: Keys, case: GateCase) -> RedisEntryGate:
    """Write the snapshot's facts as the Redis state they summarise."""
    s = case.snapshot
    if s.plan_seen:
        await client.set(keys.plan_done("plan-1"), "done")
    own = s.position_side is not None and s.position_qty > 0
    if own:
        await client.hset(
            keys.position(SYMBOL),
            mapping={
                "side": s.position_side.value,
                "qty": fmt(s.position_qty),
                "entry_price": "0",
                "entry_orders": str(s.adds_count + 1),
            },
        )
    others = s.open_positions - (1 if own else 0)
    for i in range(max(0, others)):
        entry = fmt(s.gross_exposure) if i == 0 else "0"
        await client.hset(
            keys.position(OTHERS[i]),
            mapping={"side": "LONG", "qty": "1", "entry_price": entry, "entry_orders": "1"},
        )
    if s.inflight:
        await client.set(keys.inflight(SYMBOL), json.dumps({"notional": "0"}))
    if s.cooldown:
        # the cooldown key holds the market time it ends
        await client.set(keys.cooldown_open(SYMBOL), str(case.now + 60_000))
    if s.symbol_paused:  # an operator's lock: the market time it ends
        lock = {"until": case.now + 60_000, "reason": "test", "by": "alice"}
        await client.set(keys.pause_entries(SYMBOL), json.dumps(lock))
    age = 120_001 if s.risk_state_stale else 0  # one ms past the oldest accepted
    risk = {"mode": s.risk_mode.value, "updated_at": case.now - age}
    await client.set(keys.risk_state, json.dumps(risk))
    if s.state_intact:
        await client.set(keys.epoch, "epoch-1")
    limits = GateLimits(
        allow_pyramiding=s.allow_pyramiding,
        max_adds=s.max_adds,
        max_open_positions=s.max_open_positions,
        max_gross_exposure=s.max_gross_exposure,
    )
    return RedisEntryGate(client, keys, [SYMBOL, *OTHERS], limits, epoch="epoch-1")


@pytest.mark.parametrize("case", GATE_CASES, ids=[c.name for c in GATE_CASES])
async def test_lua_gate_agrees_with_the_pure_rule(
    case: GateCase, redis_client: aioredis.Redis, keys: Keys
) -> None:
    s = case.snapshot
    # Exposure is written onto the other open positions, so every case must have one.
    assert s.gross_exposure == 0 or s.open_positions - (1 if s.position_side else 0) > 0
    gate = await materialise(redis_client, keys, case)
    lease = Lease("plan-1", "qt-plan-1", s.plan_side, s.plan_notional, case.now)
    result = await gate.check_and_reserve(
        plan_id="plan-1",
        symbol=SYMBOL,
        side=s.plan_side,
        notional=s.plan_notional,
        expires_at=s.plan_expires_at,
        lease=lease,
        now=case.now,
    )
    if case.expected.outcome is GateOutcome.ALLOW:
        assert result.answer is GateAnswer.ALLOW
        assert await redis_client.exists(keys.inflight(SYMBOL))
    else:
        assert (result.answer, result.reason) == (GateAnswer.SKIP, case.expected.reason)


async def test_fifty_racing_reservations_for_one_symbol_let_exactly_one_through(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    gate = RedisEntryGate(redis_client, keys, [SYMBOL], GateLimits())

    async def attempt(n: int) -> GateAnswer:
        lease = Lease(f"plan-{n % 5}", f"c{n}", PositionSide.LONG, Decimal(100), 0)
        result = await gate.check_and_reserve(
            plan_id=f"plan-{n % 5}",
            symbol=SYMBOL,
            side=PositionSide.LONG,
            notional=Decimal(100),
            expires_at=10**13,
            lease=lease,
            now=1,
        )
        return result.answer

    answers = await asyncio.gather(*(attempt(n) for n in range(50)))
    assert answers.count(GateAnswer.ALLOW) == 1


@pytest.mark.parametrize(
    ("lock", "answer"),
    [
        ({"until": 1_000}, GateAnswer.ALLOW),  # ended at market ms 1000: the key is stale
        ({"until": 1_001}, GateAnswer.SKIP),
        ("not json", GateAnswer.SKIP),  # unreadable: held
        ({"reason": "no end"}, GateAnswer.SKIP),
    ],
)
async def test_an_entry_pause_holds_until_its_market_time_and_fails_closed(
    redis_client: aioredis.Redis, keys: Keys, lock: object, answer: GateAnswer
) -> None:
    """The lock's end is market time, as the cooldown's is; another symbol is not paused."""
    await redis_client.set(keys.risk_state, json.dumps({"mode": "NORMAL", "updated_at": 1_000}))
    raw = lock if isinstance(lock, str) else json.dumps(lock)
    await redis_client.set(keys.pause_entries(SYMBOL), raw)
    gate = RedisEntryGate(redis_client, keys, [SYMBOL, OTHERS[0]], GateLimits())
    for symbol, expected in ((SYMBOL, answer), (OTHERS[0], GateAnswer.ALLOW)):
        plan = f"p-{symbol}"
        result = await gate.check_and_reserve(
            plan_id=plan, symbol=symbol, side=PositionSide.LONG, notional=Decimal(10),
            expires_at=60_000, lease=Lease(plan, f"qe-{plan}", PositionSide.LONG, Decimal(10), 0),
            now=1_000,
        )  # fmt: skip
        assert result.answer is expected
        if expected is GateAnswer.SKIP:
            assert result.reason == "symbol_paused"


@pytest.mark.parametrize(
    ("notional", "answer"), [("1999.9", GateAnswer.ALLOW), ("2000.1", GateAnswer.SKIP)]
)
async def test_the_lua_gate_sums_exposure_as_the_backtest_gate_does(
    redis_client: aioredis.Redis, keys: Keys, notional: str, answer: GateAnswer
) -> None:
    """Check 9's exposure is Σ qty × entry price over the ledger, in Lua and in
    ``gate_exposure`` (which the backtester's gate uses): same positions, same cap,
    same answer on either side of it."""
    held = [(Decimal("0.05"), Decimal("60000")), (Decimal("2.5"), Decimal("2400"))]
    for symbol, (qty, price) in zip(OTHERS, held, strict=False):
        await redis_client.hset(
            keys.position(symbol),
            mapping={
                "side": "LONG",
                "qty": fmt(qty),
                "entry_price": fmt(price),
                "entry_orders": "1",
            },
        )
    await redis_client.set(keys.risk_state, json.dumps({"mode": "NORMAL", "updated_at": 0}))
    await redis_client.set(keys.epoch, "e")
    cap = gate_exposure(held) + Decimal(2000)  # 9000 held: 2000 of room
    gate = RedisEntryGate(
        redis_client, keys, [SYMBOL, *OTHERS[:2]],
        GateLimits(max_gross_exposure=cap, max_open_positions=10), epoch="e",
    )  # fmt: skip
    result = await gate.check_and_reserve(
        plan_id="p", symbol=SYMBOL, side=PositionSide.LONG, notional=Decimal(notional),
        expires_at=60_000, lease=Lease("p", "qe-p", PositionSide.LONG, Decimal(notional), 0),
        now=0,
    )  # fmt: skip
    assert gate_exposure(held) == Decimal(9000)
    assert result.answer is answer
