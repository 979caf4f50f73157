"""Sizing in USDT: risk ÷ price distance, caps, lot rounding, and direction-aware stops/TPs."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.decide import reasons
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.sizing import (
    AccountCapacity,
    SizedEntry,
    SizingConfig,
    SizingRequest,
    size_entry,
)
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import is_multiple

from .sample_instruments import BTCUSDT, DOGEUSDT

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
UNCAPPED = SizingConfig(
    risk_pct=D("0.01"),
    max_position_fraction=D("1000"),
    max_notional_per_trade=D("1000000"),
    leverage=5,
    taker_fee_rate=D("0"),
)
RICH = AccountCapacity(equity=D("10000"), available_margin=D("1000000"))


def sized(outcome: SizedEntry | Rejection) -> SizedEntry:
    assert isinstance(outcome, SizedEntry), outcome
    return outcome


def rejected(outcome: SizedEntry | Rejection) -> str:
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


@pytest.mark.parametrize("side", [LONG, SHORT])
def test_qty_is_risk_amount_over_price_distance(side: PositionSide) -> None:
    entry = sized(size_entry(SizingRequest(side, D("50000"), D("500")), RICH, BTCUSDT, UNCAPPED))
    assert entry.risk_amount == D("100")
    assert entry.qty == D("0.200")
    assert entry.notional == D("10000.000")
    assert entry.risk_at_stop == D("100.0000")
    assert entry.binding_cap == "risk"


def test_long_stop_below_short_stop_above_entry() -> None:
    long_entry = sized(
        size_entry(SizingRequest(LONG, D("50000"), D("500")), RICH, BTCUSDT, UNCAPPED)
    )
    short_entry = sized(
        size_entry(SizingRequest(SHORT, D("50000"), D("500")), RICH, BTCUSDT, UNCAPPED)
    )
    assert long_entry.stop_price == D("49500.0")
    assert short_entry.stop_price == D("50500.0")


@pytest.mark.parametrize("leverage", [1, 2, 5, 20, 50])
def test_leverage_never_changes_the_risk_quantity(leverage: int) -> None:
    config = SizingConfig(
        risk_pct=D("0.01"),
        max_position_fraction=D("1000"),
        max_notional_per_trade=D("1000000"),
        leverage=leverage,
    )
    entry = sized(size_entry(SizingRequest(LONG, D("50000"), D("500")), RICH, BTCUSDT, config))
    assert entry.qty == D("0.200")
    assert entry.leverage == leverage


def test_leverage_is_capped_at_instrument_maximum() -> None:
    config = SizingConfig(leverage=100)
    entry = sized(size_entry(SizingRequest(LONG, D("0.1"), D("0.001")), RICH, DOGEUSDT, config))
    assert entry.leverage == 50


@pytest.mark.parametrize("leverage", [0, 126])
def test_leverage_beyond_binance_s_range_is_refused(leverage: int) -> None:
    with pytest.raises(ValueError, match=r"leverage must be 1\.\.125"):
        SizingConfig(leverage=leverage)


def test_qty_rounds_down_to_step_never_up() -> None:
    # 100 / 499 = 0.2004… → 0.200
    entry = sized(size_entry(SizingRequest(LONG, D("50000"), D("499")), RICH, BTCUSDT, UNCAPPED))
    assert entry.qty == D("0.200")
    assert entry.risk_at_stop <= entry.risk_amount


def test_stop_rounds_away_from_entry_and_qty_uses_the_rounded_distance() -> None:
    request_long = SizingRequest(LONG, D("50000"), D("500.04"))
    request_short = SizingRequest(SHORT, D("50000"), D("500.04"))
    long_entry = sized(size_entry(request_long, RICH, BTCUSDT, UNCAPPED))
    short_entry = sized(size_entry(request_short, RICH, BTCUSDT, UNCAPPED))
    assert long_entry.stop_price == D("49499.9")  # 49499.96 rounded down (away)
    assert short_entry.stop_price == D("50500.1")  # 50500.04 rounded up (away)
    for entry in (long_entry, short_entry):
        assert entry.risk_at_stop <= entry.risk_amount


def test_take_profits_are_direction_aware_and_rounded_toward_entry() -> None:
    long_req = SizingRequest(LONG, D("50000"), D("500"), (D("500.05"), D("1000")))
    short_req = SizingRequest(SHORT, D("50000"), D("500"), (D("500.05"), D("1000")))
    assert sized(size_entry(long_req, RICH, BTCUSDT, UNCAPPED)).take_profit_prices == (
        D("50500.0"),
        D("51000.0"),
    )
    assert sized(size_entry(short_req, RICH, BTCUSDT, UNCAPPED)).take_profit_prices == (
        D("49500.0"),
        D("49000.0"),
    )


def test_short_stop_from_atr_misread_as_fraction_is_rejected_not_96m() -> None:
    # FAILURES #15: entry × (1 + ATR) with ATR = 1920 USDT gave a $96M stop.
    misread_distance = D("50000") * D("1920")
    outcome = size_entry(
        SizingRequest(SHORT, D("50000"), misread_distance), RICH, BTCUSDT, UNCAPPED
    )
    assert rejected(outcome) == reasons.INVALID_STOP


@pytest.mark.parametrize("side", [LONG, SHORT])
@pytest.mark.parametrize("distance", ["0.02", "49", "10001", "0", "-500"])
def test_stop_distance_outside_sane_band_is_invalid(side: PositionSide, distance: str) -> None:
    # 0.02 is a fraction passed as a price distance; 49 < 0.1%; 10001 > 20% of 50000.
    outcome = size_entry(SizingRequest(side, D("50000"), D(distance)), RICH, BTCUSDT, UNCAPPED)
    assert rejected(outcome) == reasons.INVALID_STOP


@pytest.mark.parametrize("side", [LONG, SHORT])
def test_stop_band_edges_are_inclusive(side: PositionSide) -> None:
    for distance in ("50", "10000"):
        request = SizingRequest(side, D("50000"), D(distance))
        assert isinstance(size_entry(request, RICH, BTCUSDT, UNCAPPED), SizedEntry)


def test_short_take_profit_at_or_below_zero_is_invalid() -> None:
    for distance in ("50000", "60000"):
        request = SizingRequest(SHORT, D("50000"), D("500"), (D(distance),))
        assert rejected(size_entry(request, RICH, BTCUSDT, UNCAPPED)) == reasons.INVALID_TAKE_PROFIT


@pytest.mark.parametrize("side", [LONG, SHORT])
def test_non_positive_take_profit_distance_is_invalid(side: PositionSide) -> None:
    for distance in ("0", "-100", "0.01"):  # 0.01 rounds onto the entry price
        request = SizingRequest(side, D("50000"), D("500"), (D(distance),))
        assert rejected(size_entry(request, RICH, BTCUSDT, UNCAPPED)) == reasons.INVALID_TAKE_PROFIT


def test_below_min_qty_is_rejected_not_upsized() -> None:
    poor = AccountCapacity(equity=D("4"), available_margin=D("4"))  # 0.04 / 500 = 0.00008
    outcome = size_entry(SizingRequest(LONG, D("50000"), D("500")), poor, BTCUSDT, UNCAPPED)
    assert rejected(outcome) == reasons.BELOW_MIN_QTY


def test_exactly_min_qty_and_min_notional_passes() -> None:
    # risk 0.05 USDT / 0.01 → 5 DOGE at 1 USDT = 5 USDT notional = min notional.
    account = AccountCapacity(equity=D("5"), available_margin=D("100"))
    request = SizingRequest(LONG, D("1"), D("0.01"))
    entry = sized(size_entry(request, account, DOGEUSDT, UNCAPPED))
    assert entry.qty == D("5")
    assert entry.notional == D("5")


@pytest.mark.parametrize("side", [LONG, SHORT])
def test_below_min_notional_on_cheap_coin_is_rejected(side: PositionSide) -> None:
    # FAILURES #16: 0.08 USDT risk / 0.002 = 40 DOGE × 0.1 = 4 USDT < 5 USDT min notional.
    account = AccountCapacity(equity=D("8"), available_margin=D("100"))
    outcome = size_entry(SizingRequest(side, D("0.1"), D("0.002")), account, DOGEUSDT, UNCAPPED)
    assert rejected(outcome) == reasons.BELOW_MIN_NOTIONAL


def test_max_notional_per_trade_caps_qty() -> None:
    config = SizingConfig(
        risk_pct=D("0.01"),
        max_position_fraction=D("1000"),
        max_notional_per_trade=D("5000"),
        taker_fee_rate=D("0"),
    )
    entry = sized(size_entry(SizingRequest(LONG, D("50000"), D("500")), RICH, BTCUSDT, config))
    assert (entry.qty, entry.binding_cap) == (D("0.100"), "max_notional")


def test_leverage_bracket_caps_qty() -> None:
    whale = AccountCapacity(equity=D("1000000"), available_margin=D("10000000"))
    config = SizingConfig(max_notional_per_trade=D("10000000"), leverage=125)
    entry = sized(size_entry(SizingRequest(SHORT, D("50000"), D("500")), whale, BTCUSDT, config))
    assert entry.notional <= BTCUSDT.max_notional_at(125) == D("50000")
    assert (entry.qty, entry.binding_cap) == (D("1.000"), "bracket")


def test_margin_cap_reserves_round_trip_fees() -> None:
    account = AccountCapacity(equity=D("10000"), available_margin=D("1000"))
    config = SizingConfig(
        max_position_fraction=D("1000"),
        max_notional_per_trade=D("1000000"),
        leverage=5,
        taker_fee_rate=D("0.0005"),
    )
    entry = sized(size_entry(SizingRequest(LONG, D("50000"), D("500")), account, BTCUSDT, config))
    # 1000 / (1/5 + 2 × 0.0005) = 4975.12… → 0.0995 → 0.099
    assert (entry.qty, entry.binding_cap) == (D("0.099"), "margin")
    assert entry.notional / 5 + entry.notional * D("0.001") <= D("1000")


def test_no_available_margin_rejects() -> None:
    account = AccountCapacity(equity=D("10000"), available_margin=D("0"))
    outcome = size_entry(SizingRequest(LONG, D("50000"), D("500")), account, BTCUSDT, UNCAPPED)
    assert rejected(outcome) == reasons.BELOW_MIN_QTY


def test_non_positive_equity_and_entry_rejected() -> None:
    broke = AccountCapacity(equity=D("0"), available_margin=D("100"))
    assert (
        rejected(size_entry(SizingRequest(LONG, D("50000"), D("500")), broke, BTCUSDT, UNCAPPED))
        == reasons.NO_EQUITY
    )
    assert (
        rejected(size_entry(SizingRequest(LONG, D("0"), D("500")), RICH, BTCUSDT, UNCAPPED))
        == reasons.INVALID_ENTRY_PRICE
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_pct", D("0")),
        ("risk_pct", D("1.5")),
        ("leverage", 0),
        ("max_notional_per_trade", D("-1")),
        ("min_stop_fraction", D("0.5")),
    ],
)
def test_bad_sizing_config_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SizingConfig(**{field: value})  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from([LONG, SHORT]),
    instrument=st.sampled_from([BTCUSDT, DOGEUSDT]),
    equity=st.decimals(min_value=D("1"), max_value=D("1000000"), places=2),
    margin=st.decimals(min_value=D("0"), max_value=D("1000000"), places=2),
    risk_pct=st.decimals(min_value=D("0.001"), max_value=D("0.05"), places=4),
    stop_fraction=st.decimals(min_value=D("0.0005"), max_value=D("0.25"), places=4),
    leverage=st.integers(min_value=1, max_value=125),
    price_scale=st.decimals(min_value=D("0.5"), max_value=D("2"), places=3),
)
def test_sized_entry_is_exchange_valid_or_rejected(
    side: PositionSide,
    instrument: object,
    equity: D,
    margin: D,
    risk_pct: D,
    stop_fraction: D,
    leverage: int,
    price_scale: D,
) -> None:
    inst = BTCUSDT if instrument is BTCUSDT else DOGEUSDT
    entry_price = (D("50000") if inst is BTCUSDT else D("0.15")) * price_scale
    config = SizingConfig(risk_pct=risk_pct, leverage=leverage)
    request = SizingRequest(side, entry_price, entry_price * stop_fraction)
    outcome = size_entry(request, AccountCapacity(equity, margin), inst, config)
    if isinstance(outcome, Rejection):
        assert outcome.reason in {
            reasons.INVALID_STOP,
            reasons.BELOW_MIN_QTY,
            reasons.BELOW_MIN_NOTIONAL,
        }
        return
    assert is_multiple(outcome.qty, inst.market_step_size)
    assert outcome.qty >= inst.market_min_qty
    assert outcome.notional >= inst.min_notional
    assert outcome.risk_at_stop <= outcome.risk_amount
    assert outcome.notional <= config.max_notional_per_trade
    assert outcome.notional <= inst.max_notional_at(outcome.leverage)
    assert side.sign * (entry_price - outcome.stop_price) > 0
    assert inst.price_ok(outcome.stop_price)
