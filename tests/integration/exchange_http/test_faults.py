"""Each fault profile of the HTTP front yields the error class DESIGN.md §3 prescribes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import (
    ExchangeError,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RetryableError,
)
from quantum_trader.exchange.sim.http import PROFILES

from .conftest import Rig

SYMBOL = "BTCUSDT"


def buy(cid: str, qty: str = "0.002") -> OrderRequest:
    return OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, cid, Decimal(qty))


def resting(cid: str) -> OrderRequest:
    return OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, cid, Decimal("0.002"), Decimal("50000"))


@pytest.mark.parametrize(
    ("profile", "error", "code"),
    [
        ("overloaded", OrderRejected, -1008),
        ("order_rate_limit", RetryableError, None),
        ("rate_limit_burst", RetryableError, None),
        ("unknown_before", OrderOutcomeUnknown, None),
        ("lost_response", OrderOutcomeUnknown, None),
        ("status_unknown", OrderOutcomeUnknown, None),
        ("server_error", OrderOutcomeUnknown, None),
        ("internal_error", OrderOutcomeUnknown, None),
    ],
)
async def test_order_fault_maps_to_one_outcome(
    rig: Rig, exchange: CcxtBinanceExchange, profile: str, error: type, code: int | None
) -> None:
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    await rig.admin.faults(profile)
    with pytest.raises(error) as caught:
        await exchange.create_order(buy(f"f-{profile}"))
    if code is not None:
        assert getattr(caught.value, "code", None) == code


@pytest.mark.parametrize("profile", ["server_error", "internal_error", "rate_limit_burst"])
async def test_read_faults_are_retryable(
    rig: Rig, exchange: CcxtBinanceExchange, profile: str
) -> None:
    await rig.admin.faults(profile)
    with pytest.raises(RetryableError):
        await exchange.account()


async def test_accepted_then_timed_out_entry_resolves_to_one_order_and_position(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    await rig.admin.faults("lost_response")
    with pytest.raises(OrderOutcomeUnknown) as caught:
        await exchange.create_order(buy("entry-plan-1", "0.005"))
    assert caught.value.client_order_id == "entry-plan-1"
    await rig.admin.faults("none")
    order = await exchange.fetch_order(SYMBOL, "entry-plan-1")
    assert order.status is OrderStatus.FILLED and order.executed_qty == Decimal("0.005")
    positions = await exchange.positions()
    assert [(p.symbol, p.qty) for p in positions] == [(SYMBOL, Decimal("0.005"))]
    placed = [o for o in rig.server.core.all_orders() if o.client_order_id == "entry-plan-1"]
    assert len(placed) == 1


async def test_unknown_before_arrival_resolves_to_not_found(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    await rig.admin.faults("unknown_before")
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.create_order(buy("entry-plan-2"))
    await rig.admin.faults("none")
    with pytest.raises(OrderNotFound):
        await exchange.fetch_order(SYMBOL, "entry-plan-2")
    assert await exchange.positions() == []


async def test_cancel_with_lost_reply_is_unknown_and_resolves_cancelled(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    await exchange.create_order(resting("rest-1"))
    await rig.admin.faults("lost_response")
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.cancel_order(SYMBOL, "rest-1")
    await rig.admin.faults("none")
    assert (await exchange.fetch_order(SYMBOL, "rest-1")).status is OrderStatus.CANCELED


@pytest.mark.parametrize("profile", ["flaky", "chaos"])
async def test_noisy_profiles_only_raise_the_four_outcomes(
    rig: Rig, exchange: CcxtBinanceExchange, profile: str
) -> None:
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    await rig.admin.faults(profile, latency_ms=0, latency_jitter_ms=0)
    outcomes: dict[str, int] = {}
    for i in range(40):
        try:
            await exchange.create_order(resting(f"{profile}-{i}"))
            await exchange.cancel_order(SYMBOL, f"{profile}-{i}")
            name = "ok"
        except (RetryableError, OrderRejected, OrderOutcomeUnknown, OrderNotFound) as exc:
            name = type(exc).__name__
        except ExchangeError as exc:  # pragma: no cover - would be a mapping gap
            pytest.fail(f"unmapped {type(exc).__name__}: {exc}")
        outcomes[name] = outcomes.get(name, 0) + 1
    assert outcomes.get("ok", 0) > 0 and len(outcomes) > 1


def test_every_named_profile_is_valid() -> None:
    assert {"none", "flaky", "chaos"} <= set(PROFILES)
    for name, profile in PROFILES.items():
        assert profile.name == name


async def test_a_hedge_mode_account_rejects_one_way_orders_as_binance_does(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    """The hostile account of the self-check: in hedge mode an order without
    ``positionSide`` is -4061, so this system's stops would fail there."""
    await rig.admin.set_price(SYMBOL, Decimal("60000"))
    assert (await rig.admin.post("account", {"dual_side": True}))["dual_side"] is True
    with pytest.raises(OrderRejected) as caught:
        await exchange.create_order(buy("hedge-1"))
    assert caught.value.code == -4061
    check = await exchange.self_check()
    assert check["position_mode"] == "hedge"
    await rig.admin.post("account", {"dual_side": False})
    assert (await exchange.create_order(buy("oneway-1"))).status is OrderStatus.FILLED
