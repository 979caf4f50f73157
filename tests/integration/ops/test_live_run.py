"""The real-time path used by demo and live: the ccxt adapter against the simulated front,
a startup self-check, and closed klines fed to the services exactly once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.config import load_settings
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.ops.live_run import LiveRunConfig, run_live

T0 = 1_704_067_200_000


async def test_real_time_run_checks_the_account_first_and_feeds_each_closed_bar_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0))
    for n in range(5):
        price = Decimal(60_000 + 10 * n)
        sim.on_bar("BTCUSDT", T0 + n * 60_000, price, price + 5, price - 5, price, Decimal(1))
    server = SimHttpServer(sim)
    url = await server.start()
    said: list[str] = []
    try:
        result = await run_live(
            load_settings(data_dir=tmp_path / "var"),
            LiveRunConfig(
                mode="sim",
                symbols=("BTCUSDT", "NOPEUSDT"),
                exchange_url=url,
                hours=1.5 / 3600,
                poll_s=0.05,
            ),
            say=said.append,
        )
    finally:
        await server.stop()
    assert said and said[0].startswith("self-check: mode sim, endpoint")
    assert "one-way" in said[0]
    assert "balance ?" not in said[0] and f"balance {result['starting_balance']} USDT" in said[0]
    assert result["run_id"] and result["ending_equity"] is not None
    assert result["symbols"] == ["BTCUSDT"]  # an unknown symbol is left out
    assert result["bars_published"] == 3  # limit=3 klines, each closed bar once
    assert result["restarts"] == 0


async def test_an_account_with_orders_this_system_did_not_place_is_refused_or_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantum_trader.domain.enums import OrderType, Side
    from quantum_trader.domain.orders import OrderRequest

    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0))
    for n in range(5):
        price = Decimal(60_000 + 10 * n)
        sim.on_bar("BTCUSDT", T0 + n * 60_000, price, price + 5, price - 5, price, Decimal(1))
    foreign = OrderRequest(
        "BTCUSDT", Side.BUY, OrderType.LIMIT, "web_manual_1", Decimal("0.01"), Decimal("50000")
    )
    await sim.create_order(foreign)
    server = SimHttpServer(sim)
    url = await server.start()
    said: list[str] = []
    config = LiveRunConfig(mode="sim", symbols=("BTCUSDT",), exchange_url=url, hours=1 / 3600)
    try:
        with pytest.raises(ValueError, match="did not place: BTCUSDT BUY LIMIT web_manual_1"):
            await run_live(load_settings(data_dir=tmp_path / "var"), config, say=said.append)
        assert [o.client_order_id for o in await sim.open_orders("BTCUSDT")] == ["web_manual_1"]
        cleaning = LiveRunConfig(
            mode="sim",
            symbols=("BTCUSDT",),
            exchange_url=url,
            hours=1 / 3600,
            poll_s=0.05,
            cancel_foreign_orders=True,
        )
        result = await run_live(load_settings(data_dir=tmp_path / "var"), cleaning, say=said.append)
    finally:
        await server.stop()
    assert "cancelled foreign order BTCUSDT web_manual_1" in said
    assert await sim.open_orders("BTCUSDT") == [] and result["symbols"] == ["BTCUSDT"]
