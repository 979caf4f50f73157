"""The bridge's refusals never reach ``apply.result``: they are countable by reason from
the events stream (durable, once per intent) and from the bridge's own stats."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.bus.schemas import Event
from quantum_trader.decide.sizing import SizingConfig
from quantum_trader.domain.enums import RiskMode
from quantum_trader.services.intent_bridge import count_rejections, rejected_by_reason
from tests.integration.services.market_rig import T0, Rig
from tests.integration.services.test_intent_bridge import bridge, deliver, plans, trade_intent


async def test_refusals_are_counted_by_reason_once_per_intent(rig: Rig) -> None:
    ib = bridge(rig)
    refused = [
        trade_intent(1, symbol="XRPUSDT"),  # not in the bridge's universe
        trade_intent(2, symbol="XRPUSDT"),
        trade_intent(3, expires_at=T0 - 1),
    ]
    accepted = trade_intent(4)
    await deliver(rig, ib, *refused, accepted, *refused)  # the copies change nothing
    assert len(await plans(rig)) == 1
    expected = {"expired": 1, "symbol_not_allowed": 2}
    assert await rejected_by_reason(rig.client, rig.keys) == expected
    assert ib.stats.rejected == expected


async def test_a_sizing_refusal_names_its_reason_and_the_cap_that_bound_it(rig: Rig) -> None:
    tiny = SizingConfig(max_notional_per_trade=Decimal(50))
    ib = bridge(rig, sizing=tiny)
    await deliver(rig, ib, trade_intent(1))
    assert await rejected_by_reason(rig.client, rig.keys) == {"below_min_notional": 1}
    [event] = [m for m in await rig.read(rig.keys.events) if isinstance(m, Event)]
    assert "bound by max_notional" in event.detail


def test_count_rejections_ignores_every_other_event() -> None:
    def event(kind: str, **evidence: str) -> Event:
        return Event(
            msg_id=f"{kind}-{len(evidence)}",
            ts_event=T0,
            ts_init=T0,
            source="test",
            kind=kind,
            risk_mode=RiskMode.NORMAL,
            evidence=evidence,
        )

    messages = [
        event("intent_rejected", reason="low_confidence"),
        event("risk_mode_changed", reason="max_gross_exposure"),
        event("intent_rejected", reason="low_confidence"),
        event("intent_rejected"),
        "not a message",
    ]
    assert count_rejections(messages) == {"low_confidence": 2, "unknown": 1}
