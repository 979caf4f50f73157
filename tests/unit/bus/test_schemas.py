"""Message contracts: round trips for every kind, and precise rejection of bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.bus.codec import DecodeError, decode, encode
from quantum_trader.bus.schemas import (
    MESSAGE_TYPES,
    ApplyResult,
    Event,
    FillEvent,
    Heartbeat,
    IntentFeatures,
    MarketBar,
    Plan,
    TradeIntent,
)
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide, RiskMode, Side

ENV = {"msg_id": "m1", "ts_event": 1_700_000_000_000, "ts_init": 1_700_000_000_001, "source": "t"}
positive = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8)
nonneg = st.decimals(min_value=Decimal(0), max_value=Decimal("1e9"), places=8)
symbols = st.sampled_from(["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"])
ms = st.integers(min_value=0, max_value=2**53)


@st.composite
def bars(draw: st.DrawFn) -> MarketBar:
    o, c = draw(positive), draw(positive)
    hi = max(o, c) + draw(nonneg)
    lo = draw(st.decimals(min_value=Decimal("0.00000001"), max_value=min(o, c), places=8))
    t = draw(ms)
    return MarketBar(
        **ENV,
        symbol=draw(symbols),
        interval="1m",
        open_time=t,
        close_time=t + 59_999,
        open=o,
        high=hi,
        low=lo,
        close=c,
        volume=draw(nonneg),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    kind = draw(st.sampled_from(PlanKind))
    created = draw(ms)
    common = dict(
        plan_id="p" + str(draw(st.integers(0, 10**9))),
        symbol=draw(symbols),
        side=draw(st.sampled_from(PositionSide)),
        created_at=created,
        expires_at=created + draw(st.integers(0, 10**6)),
        reason_codes=tuple(draw(st.lists(st.sampled_from(["tp1", "trail"]), max_size=2))),
        r_multiple=draw(st.none() | st.decimals(-10, 10, places=4)),
    )
    if kind is PlanKind.OPEN:
        return Plan(
            **ENV,
            **common,
            kind=kind,
            action=PlanAction.OPEN,
            qty=draw(positive),
            stop_price=draw(positive),
            leverage=draw(st.integers(1, 125)),
            take_profit=tuple(draw(st.lists(positive, max_size=3))),
        )
    action = draw(st.sampled_from([a for a in PlanAction if a is not PlanAction.OPEN]))
    return Plan(
        **ENV,
        **common,
        kind=kind,
        action=action,
        position_id="pos-1",
        kill_score=draw(st.none() | st.floats(0, 1)),
        kill_components={"age": draw(st.floats(0, 1))},
    )


def _others() -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds(
            TradeIntent,
            **{k: st.just(v) for k, v in ENV.items()},
            intent_id=st.just("i1"),
            symbol=symbols,
            side=st.sampled_from(PositionSide),
            confidence=st.floats(0, 1),
            strategy=st.just("trend_ema"),
            interval=st.just("1m"),
            bar_time=ms,
            reference_price=positive,
            stop_distance=positive,
            take_profit_distance=st.none() | positive,
            features=st.builds(
                IntentFeatures,
                regime=st.integers(-1, 1),
                strength=st.floats(0, 1),
                volatility_ratio=st.floats(0, 5),
            ),
            expires_at=ms,
        ),
        st.builds(
            ApplyResult,
            **{k: st.just(v) for k, v in ENV.items()},
            plan_id=st.just("p"),
            symbol=symbols,
            action=st.sampled_from(PlanAction),
            executed=st.booleans(),
            reason=st.sampled_from(["executed", "duplicate_plan", "cooldown"]),
            filled_qty=nonneg,
            avg_price=nonneg,
        ),
        st.builds(
            FillEvent,
            **{k: st.just(v) for k, v in ENV.items()},
            symbol=symbols,
            trade_id=st.just("t1"),
            exchange_order_id=st.just("1"),
            client_order_id=st.just("c1"),
            side=st.sampled_from(Side),
            price=positive,
            qty=positive,
            commission=nonneg,
            commission_asset=st.just("USDT"),
            realized_pnl=st.decimals(-1000, 1000, places=8),
            maker=st.booleans(),
            reduce_only=st.booleans(),
        ),
        st.builds(
            Event,
            **{k: st.just(v) for k, v in ENV.items()},
            kind=st.just("risk_mode"),
            risk_mode=st.none() | st.sampled_from(RiskMode),
            evidence=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        ),
        st.builds(
            Heartbeat,
            **{k: st.just(v) for k, v in ENV.items()},
            service=st.just("ledger"),
            instance=st.just("h:1"),
            pid=st.integers(1, 10**6),
            status=st.just("running"),
            started_at=ms,
            processed=st.integers(0, 10**9),
        ),
    )


@given(st.one_of(bars(), plans(), _others()))
def test_every_message_kind_round_trips_exactly(message: object) -> None:
    assert decode(encode(message)) == message  # type: ignore[arg-type]


def test_every_message_kind_is_covered_by_the_round_trip() -> None:
    assert {t.__name__ for t in MESSAGE_TYPES} >= {
        "MarketBar",
        "TradeIntent",
        "Plan",
        "ApplyResult",
        "FillEvent",
        "Event",
        "Heartbeat",
    }


def test_quantities_are_written_as_decimal_strings() -> None:
    raw = encode(
        Plan(
            **ENV,
            plan_id="p",
            kind=PlanKind.OPEN,
            symbol="BTCUSDT",
            side=PositionSide.LONG,
            action=PlanAction.OPEN,
            qty=Decimal("0.001"),
            stop_price=Decimal("33892.5"),
            created_at=1,
            expires_at=2,
        )
    )
    assert b'"qty":"0.001"' in raw and b'"stop_price":"33892.5"' in raw


GOOD = encode(
    MarketBar(
        **ENV,
        symbol="BTCUSDT",
        interval="1m",
        open_time=0,
        close_time=59_999,
        open=Decimal(1),
        high=Decimal(2),
        low=Decimal("0.5"),
        close=Decimal("1.5"),
        volume=Decimal(3),
    )
)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", "not JSON"),
        (GOOD.replace(b'"market.bar"', b'"market.nope"'), "invalid"),
        (GOOD.replace(b'"symbol":"BTCUSDT",', b""), "missing required field `symbol`"),
        (GOOD.replace(b'"closed":true', b'"closed":true,"colour":"red"'), "unknown field `colour`"),
        (GOOD.replace(b'"volume":"3"', b'"volume":"NaN"'), "volume must be finite"),
        (GOOD.replace(b'"volume":"3"', b'"volume":"Infinity"'), "volume must be finite"),
        (GOOD.replace(b'"volume":"3"', b'"volume":"-3"'), "volume must be >= 0"),
        (GOOD.replace(b'"open_time":0', b'"open_time":"zero"'), "Expected `int`"),
        (GOOD.replace(b'"volume":"3"', b'"volume":[3]'), "Expected `decimal`"),
        (GOOD.replace(b'"schema_version":1', b'"schema_version":9'), "unsupported schema_version"),
        (GOOD.replace(b'"high":"2"', b'"high":"1.2"'), "high must be >= open and close"),
    ],
)
def test_malformed_payload_is_rejected_with_a_precise_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(raw)
    assert reason in err.value.reason


def test_oversize_payload_is_rejected_before_parsing() -> None:
    with pytest.raises(DecodeError, match="oversize"):
        decode(GOOD + b" " * 70_000, max_bytes=65_536)


def test_a_message_on_the_wrong_stream_is_rejected() -> None:
    with pytest.raises(DecodeError, match="wrong type"):
        decode(GOOD, expect=(Plan,))


def test_open_plan_needs_qty_and_stop_and_close_plan_needs_position_id() -> None:
    with pytest.raises(ValueError, match="needs qty"):
        Plan(
            **ENV,
            plan_id="p",
            kind=PlanKind.OPEN,
            symbol="BTCUSDT",
            side=PositionSide.LONG,
            action=PlanAction.OPEN,
            stop_price=Decimal(1),
            created_at=1,
            expires_at=2,
        )
    with pytest.raises(ValueError, match="needs position_id"):
        Plan(
            **ENV,
            plan_id="p",
            kind=PlanKind.CLOSE,
            symbol="BTCUSDT",
            side=PositionSide.LONG,
            action=PlanAction.FULL_CLOSE,
            created_at=1,
            expires_at=2,
        )
