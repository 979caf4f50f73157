"""Dashboard latency with 400 symbols and 50 open positions on a real Redis.

* time to first byte and to the complete overview page (``GET /``, server-rendered: a
  complete first paint needs no script), p50 / p99 over 40 requests;
* first contentful paint and load of the overview in Chromium (Debian's, through
  Playwright), p50 / p99 over 10 loads — target under 1 s;
* update latency: a fill recorded by the ledger (the fill on the fills stream and the
  position folded from it, as the ledger service does) → the ``positions`` event on an
  open live stream (SSE), and → the positions view re-rendered in the browser, p50 / p99.

Baselines measured in the same run: the same server's empty answer (``/favicon.ico``,
204) for the time to first byte, and a Redis PING for the update path.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import aiohttp
import redis.asyncio as aioredis
from _common import redis_server, report
from playwright.async_api import async_playwright

from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import FillEvent, MarketBar, derive_id
from quantum_trader.clock import SystemClock
from quantum_trader.config import load_settings
from quantum_trader.dashboard.app import build_app
from quantum_trader.dashboard.auth import PasswordBook
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.server import start
from quantum_trader.domain.enums import Side
from quantum_trader.domain.orders import Fill
from quantum_trader.services.ledger import RedisLedger

SYMBOLS = [f"S{i:03d}USDT" for i in range(400)]
POSITIONS = 50
BARS = 50
T0 = 1_704_067_200_000
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
USERS = {"ops": {"password": "bench-password", "role": "admin"}}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def seed(client: aioredis.Redis, keys: Keys) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for b in range(BARS):
            t = T0 + b * 60_000
            for n, symbol in enumerate(SYMBOLS):
                price = Decimal(100 + n) + Decimal(b) / 10
                bar = MarketBar(msg_id=derive_id("bar", symbol, t), ts_event=t, ts_init=t,
                                source="bench", symbol=symbol, interval="1m", open_time=t,
                                close_time=t + 59_999, open=price, high=price + 1, low=price - 1,
                                close=price, volume=Decimal(10))  # fmt: skip
                pipe.xadd(keys.market, {"msg": encode(bar)})
        await pipe.execute()
    ledger = RedisLedger(client, keys)
    for n, symbol in enumerate(SYMBOLS[:POSITIONS]):
        await ledger.record_fill(fill(symbol, n, f"open-{n}"), leverage=5)
        position = await ledger.read(symbol)
        assert position is not None
        await ledger.set_stop(symbol, position.position_id, Decimal(90 + n), f"qs-{n}", T0)
    await client.hset(keys.sizing_basis, mapping={"bar_time": T0, "equity": "100000",
                                                   "available": "80000"})  # fmt: skip


def fill(symbol: str, n: int, trade: str) -> Fill:
    return Fill(symbol=symbol, trade_id=trade, exchange_order_id=f"x{trade}",
                client_order_id=f"qe-{n:028d}", side=Side.BUY, price=Decimal(100 + n),
                qty=Decimal("1"), commission=Decimal("0.04"), commission_asset="USDT",
                realized_pnl=Decimal(0), maker=False, reduce_only=False, ts=T0)  # fmt: skip


async def main() -> None:
    server = redis_server()
    keys = Keys("bench:")
    client = aioredis.Redis.from_url(server.url)
    data_dir = Path(tempfile.mkdtemp(prefix="qt-dash-"))
    settings = load_settings(data_dir=data_dir, dashboard={"users": USERS, "live_interval_ms": 0})
    ctx = DashboardContext(settings=settings, redis=client, keys=keys, clock=SystemClock())
    try:
        await seed(client, keys)
        running = await start(build_app(ctx, PasswordBook.from_settings(settings.dashboard)),
                              "127.0.0.1", 0)  # fmt: skip
        url = running.url
        async with aiohttp.ClientSession() as http:
            form = {"username": "ops", "password": "bench-password"}
            async with http.post(f"{url}/api/auth/token", data=form) as r:
                token = (await r.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
            ttfb, full, floor = [], [], []
            for i in range(45):
                t = time.perf_counter()
                async with http.get(f"{url}/", headers=headers) as r:
                    first = time.perf_counter()
                    body = await r.read()
                    done = time.perf_counter()
                assert r.status == 200 and b'id="open-positions">50<' in body
                t2 = time.perf_counter()
                async with http.get(f"{url}/favicon.ico") as r:
                    await r.read()
                if i >= 5:  # warm
                    ttfb.append((first - t) * 1000)
                    full.append((done - t) * 1000)
                    floor.append((time.perf_counter() - t2) * 1000)
            positions_page = await (await http.get(f"{url}/positions", headers=headers)).text()
            assert positions_page.count("data-position-id=") == POSITIONS
            sse, pings = await sse_latency(http, url, token, client, keys)
        paint, load, browser_update = await browser(url, client, keys)
        await running.stop()
    finally:
        await client.aclose()
        server.stop()
    print(f"overview TTFB p50 {statistics.median(ttfb):.1f} ms p99 {pct(ttfb, .99):.1f} ms; "
          f"complete p50 {statistics.median(full):.1f} ms p99 {pct(full, .99):.1f} ms "
          f"(empty answer p50 {statistics.median(floor):.2f} ms)")  # fmt: skip
    print(f"first contentful paint p50 {statistics.median(paint):.0f} ms p99 {pct(paint, .99):.0f}"
          f" ms; load p50 {statistics.median(load):.0f} ms (target < 1000 ms)")  # fmt: skip
    print(
        f"fill → SSE event p50 {statistics.median(sse):.1f} ms p99 {pct(sse, 0.99):.1f} ms; "
        f"→ browser view updated p50 {statistics.median(browser_update):.1f} ms p99 "
        f"{pct(browser_update, 0.99):.1f} ms (redis PING p50 {statistics.median(pings):.3f} ms)"
    )
    report(
        "dashboard_latency",
        pct(full, 0.99),
        statistics.median(floor),
        "ms (p99 complete overview vs the server's empty answer)",
        symbols=len(SYMBOLS), positions=POSITIONS,
        ttfb_p50_ms=round(statistics.median(ttfb), 2), ttfb_p99_ms=round(pct(ttfb, .99), 2),
        overview_p50_ms=round(statistics.median(full), 2), overview_p99_ms=round(pct(full, .99), 2),
        first_paint_p50_ms=round(statistics.median(paint), 1),
        first_paint_p99_ms=round(pct(paint, .99), 1), load_p50_ms=round(statistics.median(load), 1),
        first_paint_under_1s=pct(paint, .99) < 1000,
        sse_p50_ms=round(statistics.median(sse), 2), sse_p99_ms=round(pct(sse, .99), 2),
        browser_update_p50_ms=round(statistics.median(browser_update), 1),
        browser_update_p99_ms=round(pct(browser_update, .99), 1),
        redis_ping_ms=round(statistics.median(pings), 3),
    )  # fmt: skip


async def sse_latency(
    http: aiohttp.ClientSession, url: str, token: str, client: aioredis.Redis, keys: Keys
) -> tuple[list[float], list[float]]:
    ledger, samples, pings = RedisLedger(client, keys), [], []
    async with http.get(f"{url}/live", headers={"Authorization": f"Bearer {token}"}) as r:
        await r.content.readuntil(b"\n\n")
        for i in range(60):
            symbol = SYMBOLS[i % POSITIONS]
            t = time.perf_counter()
            await client.ping()
            pings.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await record(client, keys, ledger, symbol, i)
            while b"event: positions" not in await r.content.readuntil(b"\n\n"):
                pass
            samples.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)  # let the other topics of this change go by
            while len(r.content._buffer):
                await r.content.readuntil(b"\n\n")
    return samples, pings


async def record(
    client: aioredis.Redis, keys: Keys, ledger: RedisLedger, symbol: str, i: int
) -> None:
    n = SYMBOLS.index(symbol)
    f = fill(symbol, n, f"add-{i}")
    event = FillEvent(msg_id=derive_id("fill", symbol, i), ts_event=T0, ts_init=T0,
                      source="bench", symbol=symbol, trade_id=f.trade_id,
                      exchange_order_id=f.exchange_order_id, client_order_id=f.client_order_id,
                      side=f.side, price=f.price, qty=f.qty, commission=f.commission,
                      commission_asset="USDT", realized_pnl=Decimal(0), maker=False,
                      reduce_only=False)  # fmt: skip
    await client.xadd(keys.fills, {"msg": encode(event)})
    await ledger.record_fill(f)


async def browser(
    url: str, client: aioredis.Redis, keys: Keys
) -> tuple[list[float], list[float], list[float]]:
    paint, load, updates = [], [], []
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = await chromium.new_page()
        await page.goto(f"{url}/login")
        await page.fill("input[name=username]", "ops")
        await page.fill("input[name=password]", "bench-password")
        await page.click("button[type=submit]")
        await page.wait_for_selector("nav")
        for _ in range(11):
            await page.goto(f"{url}/", wait_until="load")
            timing = await page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " const p = performance.getEntriesByName('first-contentful-paint')[0];"
                " return [p ? p.startTime : n.domContentLoadedEventEnd, n.loadEventEnd]; }"
            )
            paint.append(timing[0])
            load.append(timing[1])
        paint, load = paint[1:], load[1:]
        await page.goto(f"{url}/positions", wait_until="load")
        await page.wait_for_selector("body[data-live=on]")
        ledger = RedisLedger(client, keys)
        for i in range(30):
            swaps = await page.evaluate("window.qtSwaps")
            t = time.perf_counter()
            await record(client, keys, ledger, SYMBOLS[i % POSITIONS], 1_000 + i)
            await page.wait_for_function("(n) => window.qtSwaps > n", arg=swaps, polling="raf")
            updates.append((time.perf_counter() - t) * 1000)
            await page.wait_for_timeout(50)  # let this change's other topics go by
        await chromium.close()
    return paint, load, updates


if __name__ == "__main__":
    asyncio.run(main())
