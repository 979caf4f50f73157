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
    # limit=3 klines; the venue's clock is at the last bar's open, so that bar is still
    # forming: the two closed ones are published, each once
    assert result["bars_published"] == 2
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


async def test_real_time_paper_against_a_replaying_venue_trades_on_the_markets_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay is in 2024: on the wall clock every intent would be hours stale."""
    import json

    import redis.asyncio as aioredis

    from quantum_trader.bus.codec import decode
    from quantum_trader.bus.keys import Keys
    from quantum_trader.bus.redis_transport import FIELD
    from quantum_trader.bus.schemas import MarketBar
    from quantum_trader.data import MarketConfig, generate_market
    from quantum_trader.exchange.sim.http.replay import replay
    from quantum_trader.infra.embedded_redis import read_state
    from quantum_trader.runtime.idle import groups_idle

    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    symbol, history, live = "ETHUSDT", 400, 120
    market = generate_market([symbol], history + live, MarketConfig(seed=7, start_ms=T0))
    series = market.bars[symbol]
    sim = SimExchange(MatchingCore(seed=7, start_ms=T0))
    # The replay runs ~1000x real time: the per-minute request budget scales with it.
    server = SimHttpServer(sim, weight_limit=2400 * 1000)
    url = await server.start()
    await replay(server, [series.slice(0, history)], speed=1e9)  # history to warm up from
    settings = load_settings(data_dir=tmp_path / "var", strategies={"names": ["breakout"]})
    pushed = [0]  # live bars the replay has put on the venue so far
    refusals: dict[str, str] = {}  # plan id -> the apply layer's reason, for every plan

    async def bar_taken(_: float) -> None:
        """Pace the replay as real time would: the next bar once the feed published the
        bar that just closed and the signal engine, intent bridge and apply layer are
        done with it."""
        state = read_state(tmp_path / "var" / "redis")
        assert state is not None
        client = aioredis.Redis.from_url(str(state["url"]))
        keys = Keys(settings.key_prefix)
        groups = {
            keys.market: ["signal-engine"],
            keys.trade_intent: ["intent-bridge"],
            keys.apply_plan: ["apply-layer"],
        }
        pushed[0] += 1
        # the venue's clock is at the newest bar's open: the one before it has closed
        closed_open = int(series.open_time[history + pushed[0] - 2])
        now_open = int(series.open_time[history + pushed[0] - 1])
        try:
            for _ in range(400):  # bounded: the feed polls every 20 ms
                last = await client.xrevrange(keys.market, count=1)
                newest = decode(last[0][1][FIELD]) if last else None
                taken = isinstance(newest, MarketBar) and newest.open_time >= closed_open
                # the risk guard ticks every second of market time: in real time its state
                # is never older than a second. A replay jumps a minute per bar, so it
                # waits for a tick at the venue's new time (at the bar that is forming);
                # a tick from before the jump would be two bars old at the next plan,
                # which the gate refuses as risk_state_stale
                risk = await client.get(keys.risk_state)
                current = risk is not None and json.loads(risk)["updated_at"] >= now_open
                if taken and current and await groups_idle(client, groups):
                    break
                await client.xread({keys.market: "$"}, block=25)
            for _, fields in await client.xrange(keys.apply_result):
                result = decode(fields[FIELD])
                refusals[getattr(result, "plan_id", "")] = str(getattr(result, "reason", ""))
        finally:
            await client.aclose()

    async def market_moves() -> None:
        await replay(server, [series.slice(history, history + live)], sleep=bar_taken)

    config = LiveRunConfig(mode="sim", symbols=(symbol,), exchange_url=url, poll_s=0.02)
    try:
        result = await run_live(settings, config, say=lambda _: None, until=market_moves)
    finally:
        await server.stop()
    assert result["bars_published"] >= live - 2
    entries = [o for o in sim.core.all_orders() if o.client_order_id.startswith("qe-")]
    assert entries, f"no entry: {refusals}"
    # nothing aged against the wall clock, and no plan met a risk mode the replay outran
    assert not {"expired", "risk_state_stale"} & set(refusals.values()), refusals


async def test_the_feed_backfills_every_bar_it_missed(redis_client: object, keys: object) -> None:
    """A Redis outage or a slow poll: the next poll publishes every bar since the last."""
    from quantum_trader.bus.bus import Bus
    from quantum_trader.bus.codec import decode
    from quantum_trader.bus.idempotency import RedisEffectStore
    from quantum_trader.bus.keys import Keys
    from quantum_trader.bus.redis_transport import FIELD, RedisTransport
    from quantum_trader.bus.schemas import MarketBar
    from quantum_trader.clock import SimClock
    from quantum_trader.ops.live_run import KlineFeed

    assert isinstance(keys, Keys)
    redis = redis_client
    clock = SimClock(T0)
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0), clock=clock)

    def bars_until(first: int, last: int) -> None:
        for n in range(first, last + 1):
            price = Decimal(60_000 + 10 * n)
            sim.on_bar("BTCUSDT", T0 + n * 60_000, price, price + 5, price - 5, price, Decimal(1))

    bus = Bus(RedisTransport(redis), clock, keys)  # type: ignore[arg-type]
    feed = KlineFeed(sim, bus, RedisEffectStore(redis, keys), clock, ("BTCUSDT",), "1m")  # type: ignore[arg-type]
    bars_until(0, 3)
    clock.set(T0 + 3 * 60_000 + 1)  # bars 0-2 closed, 3 forming
    await feed.poll()
    bars_until(4, 11)
    clock.set(T0 + 11 * 60_000 + 1)  # eight more closed while nobody polled
    await feed.poll()
    entries = await redis.xrange(keys.market)  # type: ignore[attr-defined]
    bars = [decode(f[FIELD]) for _, f in entries]
    opens = [b.open_time for b in bars if isinstance(b, MarketBar)]
    assert opens == [T0 + n * 60_000 for n in range(1, 11)]  # 1-2 at start, then 3-10 all


async def test_a_hostile_account_is_refused_before_anything_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hedge mode, isolated margin and multi-assets margin, set on the venue by its
    admin endpoint as an operator would have set them: the self-check refuses, one
    reason each, and nothing is placed."""
    import aiohttp

    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    sim = SimExchange(MatchingCore(seed=3, start_ms=T0))
    for n in range(5):
        price = Decimal(60_000 + 10 * n)
        sim.on_bar("BTCUSDT", T0 + n * 60_000, price, price + 5, price - 5, price, Decimal(1))
    server = SimHttpServer(sim)
    url = await server.start()
    modes = {"dual_side": True, "multi_assets": True, "isolated": ["BTCUSDT"]}
    config = LiveRunConfig(mode="sim", symbols=("BTCUSDT",), exchange_url=url, hours=1 / 3600)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/admin/account", json=modes) as reply,
        ):
            assert (await reply.json())["isolated"] == ["BTCUSDT"]
        with pytest.raises(ValueError) as refused:
            await run_live(load_settings(data_dir=tmp_path / "var"), config, say=lambda _: None)
    finally:
        await server.stop()
    reasons = str(refused.value)
    assert "position mode is 'hedge'" in reasons
    assert "margin mode ISOLATED" in reasons
    assert "multi-assets margin is on" in reasons
    assert sim.core.history().orders == ()
