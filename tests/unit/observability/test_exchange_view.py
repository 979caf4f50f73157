"""The exchange as the metrics service reads it (the simulated exchange's matching core,
in process): a position without an exchange-side stop covering all of it is unprotected,
for as long as the readings say so; equity, exposure and their limits beside it."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.observability.exchange_view import ExchangeView
from tests.unit.observability.exposition import samples

T0 = 1_700_000_040_000


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stop(qty: str, coid: str) -> OrderRequest:
    return OrderRequest(
        "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, coid, Decimal(qty),
        stop_price=Decimal("39000"), reduce_only=True,
    )  # fmt: skip


async def test_a_position_is_unprotected_until_a_stop_covers_all_of_it() -> None:
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0))
    sim.set_price("BTCUSDT", Decimal("40000"))
    timer = Timer()
    view = ExchangeView(sim, RiskConfig(), refresh_s=5, timer=timer)
    await view.refresh()
    seen = samples(view.families())
    assert seen["quantum_open_positions"] == 0 and seen["quantum_positions_unprotected"] == 0
    assert seen["quantum_exchange_up"] == 1 and seen["quantum_equity_usdt"] > 0

    sim.open_position_by_hand("BTCUSDT", Side.BUY, Decimal("0.010"))
    timer.now += 1  # within refresh_s: the last reading stands
    await view.refresh()
    assert samples(view.families())["quantum_open_positions"] == 0
    timer.now += 5
    await view.refresh()  # first seen unprotected now
    await sim.create_order(stop("0.005", "half"))  # covers half of it: still unprotected
    timer.now += 40
    await view.refresh()
    seen = samples(view.families())
    assert seen['quantum_position_unprotected_seconds{symbol="BTCUSDT"}'] == 40
    assert seen["quantum_positions_unprotected"] == 1
    assert seen["quantum_gross_exposure_usdt"] == 400  # 0.010 × 40,000
    assert seen["quantum_gross_exposure_limit_ratio"] == 3

    await sim.create_order(stop("0.010", "whole"))
    timer.now += 5
    await view.refresh()
    seen = samples(view.families())
    assert seen['quantum_position_unprotected_seconds{symbol="BTCUSDT"}'] == 0
    assert seen["quantum_positions_unprotected"] == 0
    assert seen["quantum_equity_age_seconds"] == 0


class Unreachable(SimExchange):
    async def account(self):  # type: ignore[no-untyped-def]
        raise OSError("connection refused")


async def test_an_unreachable_exchange_is_down_and_its_equity_ages() -> None:
    timer = Timer()
    view = ExchangeView(Unreachable(MatchingCore(seed=3, start_ms=T0)), refresh_s=1, timer=timer)
    await view.refresh()
    timer.now += 90
    await view.refresh()
    seen = samples(view.families())
    assert seen["quantum_exchange_up"] == 0
    assert seen["quantum_equity_age_seconds"] == 90  # since the exporter started
    assert "quantum_open_positions" not in seen  # no reading: no figure
