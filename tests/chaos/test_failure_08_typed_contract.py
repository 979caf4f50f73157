"""FAILURES #8: "field-name drift between services (`action` vs `harvest_action`,
`payload` vs `data`, TP/SL sent as % read as price)" — no shared typed contract."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from quantum_trader.bus.codec import DecodeError, decode, encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.schemas import DeadLetter, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide import reasons
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.sizing import SizingConfig, stop_price_for
from quantum_trader.domain.enums import PlanAction, PositionSide
from tests.integration.apply.rig import ApplyRig
from tests.unit.decide.sample_instruments import BTCUSDT


def _wire(rig: ApplyRig, **changes: object) -> bytes:
    plan = rig.close_plan("ETHUSDT", "ETHUSDT:p", PlanAction.PARTIAL_25)
    data = json.loads(encode(plan))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


def test_failure_08_misnamed_and_mistyped_fields_are_rejected_with_a_precise_reason(
    rig: ApplyRig,
) -> None:
    assert decode(_wire(rig)).action is PlanAction.PARTIAL_25  # type: ignore[union-attr]
    with pytest.raises(DecodeError, match="harvest_action"):
        decode(_wire(rig, harvest_action="PARTIAL_25"))
    with pytest.raises(DecodeError, match="data"):
        decode(_wire(rig, data={"action": "PARTIAL_25"}))
    with pytest.raises(DecodeError, match="action"):
        decode(_wire(rig, action=None))
    with pytest.raises(DecodeError, match="action"):
        decode(_wire(rig, action="PARTIAL_33"))
    with pytest.raises(DecodeError, match="tp_pct"):
        decode(_wire(rig, tp_pct="2.5"))
    with pytest.raises(DecodeError, match="pct must be in"):
        decode(_wire(rig, pct="25"))  # 25 % sent where a fraction is meant
    with pytest.raises(DecodeError, match="stop_price"):
        decode(_wire(rig, stop_price="2.5%"))


def test_failure_08_a_percentage_cannot_pass_as_a_stop_distance() -> None:
    """A 2 % stop sent as "2" (or 0.02) and read as a price distance on BTC is refused."""
    config = SizingConfig()
    for pct_as_number in (Decimal("2"), Decimal("0.02")):
        verdict = stop_price_for(
            PositionSide.SHORT, Decimal("60000"), pct_as_number, BTCUSDT, config
        )
        assert isinstance(verdict, Rejection) and verdict.reason == reasons.INVALID_STOP
    ok = stop_price_for(PositionSide.SHORT, Decimal("60000"), Decimal("1200"), BTCUSDT, config)
    assert ok == Decimal("61200")


async def test_failure_08_an_entry_with_payload_in_the_wrong_field_is_dead_lettered(
    rig: ApplyRig,
) -> None:
    """`data` instead of `msg` on the wire: never acknowledged silently."""
    handled: list[Message] = []

    async def handle(message: Message, delivery: Delivery) -> None:
        handled.append(message)

    c = StreamConsumer(
        rig.bus, [rig.keys.apply_exit], "g", "c", handle, config=ConsumerConfig(block_ms=0)
    )
    await c.start()
    payload = encode(rig.close_plan("ETHUSDT", "ETHUSDT:p", PlanAction.FULL_CLOSE))
    await rig.redis.xadd(rig.keys.apply_exit, {b"data": payload})
    await rig.redis.xadd(rig.keys.apply_exit, {b"msg": b'{"type": "apply.plan"}'})
    while await c.poll(0):
        pass
    assert handled == []
    letters = [decode(f[b"msg"]) for _, f in await rig.redis.xrange(rig.keys.dead)]
    assert len(letters) == 2 and all(isinstance(x, DeadLetter) for x in letters)
    assert "invalid" in letters[-1].reason  # type: ignore[union-attr]
