"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) beside a
real paper run: every service, the simulated exchange over its HTTP front, real Redis.

The market runs at 1,200× (a 1m bar every 50 ms) and a test can hold it between two
bars, so an action it takes meets a market that stands still. Screenshots of every view
go to ``var/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.bus.codec import decode
from quantum_trader.bus.schemas import ApplyResult
from quantum_trader.config import load_settings
from quantum_trader.dashboard.app import build_app
from quantum_trader.dashboard.auth import PasswordBook
from quantum_trader.dashboard.launch import for_parts
from quantum_trader.dashboard.server import RunningDashboard, start
from quantum_trader.domain.enums import PlanAction
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops import paper_run
from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig

from .conftest import USERS

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.xdist_group("dashboard-browser"),
]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
WAIT_MS = 60_000  # Playwright's bound on any one wait for the run to show something


@dataclass
class Rig:
    run: PaperRun
    dashboard: RunningDashboard
    browser: Browser
    market: asyncio.Event  # set: bars flow; clear: the market holds before its next bar

    async def page(self, user: str) -> Page:
        context = await self.browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{self.dashboard.url}/login")
        await page.fill("input[name=username]", user)
        await page.fill("input[name=password]", USERS[user]["password"])
        await page.click("button[type=submit]")
        await expect(page.locator("nav")).to_be_visible()
        return page

    async def results(self) -> list[ApplyResult]:
        assert self.run.parts is not None
        raw = await self.run.parts.redis.xrange(self.run.keys.apply_result)
        return [m for m in (decode(f[b"msg"]) for _, f in raw) if isinstance(m, ApplyResult)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    settings = load_settings(
        redis_url=redis_server.url,
        data_dir=tmp_path_factory.mktemp("dashboard-run") / "var",
        dashboard={"users": USERS},
    )
    market = asyncio.Event()
    market.set()
    paced = paper_run.Pacer.wait

    async def held(self: paper_run.Pacer, n: int) -> None:
        await market.wait()
        await paced(self, n)

    started: asyncio.Future[RunningDashboard] = asyncio.get_running_loop().create_future()

    def on_trading(parts: SystemParts) -> None:
        async def serve() -> None:
            app = build_app(
                for_parts(parts, run.run_id), PasswordBook.from_settings(settings.dashboard)
            )
            started.set_result(await start(app, "127.0.0.1", 0))

        asyncio.get_running_loop().create_task(serve())

    config = PaperRunConfig(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), hours=48, seed=7, speed=1200)
    run = PaperRun(settings, config, on_trading=on_trading)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(paper_run.Pacer, "wait", held)
        task = asyncio.create_task(run.run())
        dashboard = await asyncio.wait_for(started, 60)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield Rig(run, dashboard, browser, market)
            finally:
                await browser.close()
                run.request_stop("the browser tests are done")
                market.set()
                await asyncio.wait_for(task, 120)
                await dashboard.stop()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def view(page: Page, name: str, ready: str) -> None:
    """Open a view from the navigation (htmx, no page load) and screenshot it."""
    await page.click(f"nav >> text={name}")
    await expect(page.locator(ready).first).to_be_visible()
    await shot(page, name.lower().replace(" ", "-"))


async def test_an_admin_watches_positions_appear_and_update(rig: Rig) -> None:
    page = await rig.page("alice")
    await expect(page.locator("#equity")).not_to_have_text("—")
    await expect(page.locator("body[data-live=on]")).to_have_count(1)  # the live stream
    await page.click("nav >> text=Positions")
    row = page.locator("tr[data-position-id]").first
    await expect(row).to_be_visible()
    first = await row.locator("td.mark").inner_text()
    symbol = await row.get_attribute("data-symbol")
    # the market moves on: the same view, updated in place from the live stream
    await page.wait_for_function(
        '([s, m]) => { const r = document.querySelector(`tr[data-symbol="${s}"] td.mark`);'
        " return r && r.textContent !== m; }",
        arg=[symbol, first],
    )
    await shot(page, "positions")
    for name, ready in (("Overview", "#equity-chart canvas"), ("Orders", "table"),
                        ("Chart", "[data-candles-url][data-loaded]"), ("Harvest", ".cards"),
                        ("Services", "tr[data-service]"), ("Risk", "#risk-banner"),
                        ("Repairs", "table"), ("Dead letters", "table"), ("Journal", "table"),
                        ("Audit", "table"), ("Settings", "table"), ("API", "table")):  # fmt: skip
        await view(page, name, ready)
    await page.context.close()


async def test_a_trade_trace_goes_from_the_signal_to_the_fills(rig: Rig) -> None:
    page = await rig.page("alice")
    await page.click("nav >> text=Positions")
    await page.locator("tr[data-position-id] a.trace-link").first.click()
    for stage in ("signal", "intent", "plan", "gate", "fill"):
        await expect(page.locator(f"li[data-stage={stage}]").first).to_be_visible()
    assert "entry fill" in await page.locator("li[data-stage=fill]").first.inner_text()
    await shot(page, "trace")
    await page.context.close()


async def test_a_position_closed_from_the_page_is_closed_on_the_exchange(rig: Rig) -> None:
    page = await rig.page("alice")
    await page.click("nav >> text=Positions")
    await expect(page.locator("tr[data-position-id]").first).to_be_visible()
    rig.market.clear()  # hold the market: only the close changes the book
    row = page.locator("tr[data-position-id]").first
    position_id = await row.get_attribute("data-position-id")
    symbol = await row.get_attribute("data-symbol")
    assert position_id and symbol
    try:
        await row.locator("button[data-action=close]").click()
        await page.click("[data-dialog=close] button[data-confirm]")
        await expect(page.locator("#dialog [data-result=accepted]")).to_be_visible()
        await shot(page, "close-accepted")
        await page.click("#dialog [data-close-dialog]")
        await expect(page.locator(f'tr[data-position-id="{position_id}"]')).to_have_count(0)
        assert rig.run.sim is not None
        assert symbol not in {p.symbol for p in await rig.run.sim.positions()}
        closes = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE
                  and r.executed and r.reason == "executed"]  # fmt: skip
        assert any(r.symbol == symbol for r in closes)
        await page.click("nav >> text=Audit")
        await expect(
            page.locator("tr[data-action=close] >> text=executed: executed")
        ).to_be_visible()
        await shot(page, "audit")
    finally:
        rig.market.set()
        await page.context.close()


async def test_the_kill_switch_from_the_page_skips_every_entry(rig: Rig) -> None:
    page = await rig.page("alice")
    await page.click("button[data-action=kill_switch_on]")
    await page.fill("[data-dialog=kill_switch_on] input[name=reason]", "browser test")
    await page.click("[data-dialog=kill_switch_on] button[data-confirm]")
    await expect(page.locator("#dialog [data-result=accepted]")).to_be_visible()
    await page.click("#dialog [data-close-dialog]")
    await expect(page.locator("#kill-switch-state")).to_contain_text("kill switch ON")
    try:
        switched_at = len(await rig.results())
        await expect(page.locator("td.reason >> text=risk_halt").first).to_be_visible()
        await shot(page, "kill-switch-on")
        entries = await entries_after(rig, switched_at)
        assert not any(r.executed for r in entries)
        assert {r.reason for r in entries} <= {"risk_halt"}
    finally:
        await page.click("button[data-action=kill_switch_off]")
        await page.click("[data-dialog=kill_switch_off] button[data-confirm]")
        await expect(page.locator("#dialog [data-result=accepted]")).to_be_visible()
        await page.context.close()


async def entries_after(rig: Rig, start: int) -> list[ApplyResult]:
    """The entry results written after ``start``, once there is at least one: the
    market keeps flowing, so the next entry signal comes within a few bars."""
    for _ in range(600):
        entries = [r for r in (await rig.results())[start:] if r.action is PlanAction.OPEN]
        if entries:
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"no entry was decided after result {start} within 60 s")


async def test_a_read_only_user_sees_no_action_and_is_refused_one(rig: Rig) -> None:
    page = await rig.page("bob")
    await expect(page.locator("header .user")).to_contain_text("viewer")
    await page.click("nav >> text=Positions")
    await expect(page.locator("tr[data-position-id], td.muted").first).to_be_visible()
    assert await page.locator("button.act").count() == 0
    await shot(page, "read-only")
    dialog = await page.request.get(f"{rig.dashboard.url}/actions/kill_switch_on")
    assert "read-only" in await dialog.text()
    # with the login's CSRF token, as the page itself would send it: the role refuses
    status = await page.evaluate(
        """async () => {
          const headers = JSON.parse(document.body.getAttribute("hx-headers"));
          const r = await fetch("/api/actions/kill_switch_on", {method: "POST",
            headers: {...headers, "Content-Type": "application/json",
                      "Idempotency-Key": "viewer-attempt-0001"},
            body: JSON.stringify({confirm: true, reason: "not mine"})});
          return r.status;
        }"""
    )
    assert status == 403
    with contextlib.suppress(Exception):
        await page.context.close()
    assert rig.run.parts is not None
    assert not await rig.run.parts.redis.exists(rig.run.keys.risk_kill_switch)
