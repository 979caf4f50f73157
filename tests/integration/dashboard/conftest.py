"""A dashboard served on a free loopback port over the session's real redis-server,
with an admin (alice) and a read-only user (bob), on a simulated system clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.clock import SimClock
from quantum_trader.config import Settings, load_settings
from quantum_trader.dashboard.app import build_app
from quantum_trader.dashboard.auth import PasswordBook
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.server import RunningDashboard, start
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import PositionSide
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.services.ledger import RedisLedger

NOW = 1_704_096_000_000  # 2024-01-01T08:00:00Z
USERS = {
    "alice": {"password": "alice-password", "role": "admin"},
    "bob": {"password": "bob-password", "role": "viewer"},
}


def dashboard_settings(data_dir: Path, **dashboard: Any) -> Settings:
    return load_settings(data_dir=data_dir, dashboard={"users": USERS, **dashboard})


@dataclass
class Served:
    ctx: DashboardContext
    running: RunningDashboard
    clock: SimClock
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def keys(self) -> Keys:
        return self.ctx.keys

    @property
    def redis(self) -> aioredis.Redis:
        return self.ctx.redis

    async def token(self, user: str) -> str:
        form = {"username": user, "password": USERS[user]["password"]}
        async with self.http.post(f"{self.url}/api/auth/token", data=form) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["access_token"])

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, f"{self.url}{path}", headers=headers, allow_redirects=False, **kwargs
        ) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body


async def serve(
    redis_server: EmbeddedRedis, keys: Keys, settings: Settings, clock: SimClock
) -> AsyncIterator[Served]:
    client = aioredis.Redis.from_url(redis_server.url)
    ctx = DashboardContext(settings=settings, redis=client, keys=keys, clock=clock)
    app = build_app(ctx, PasswordBook.from_settings(settings.dashboard))
    running = await start(app, "127.0.0.1", 0)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # an IP host
    try:
        yield Served(ctx, running, clock, http)
    finally:
        await http.close()
        await running.stop()
        await client.aclose()


@pytest.fixture
async def served(redis_server: EmbeddedRedis, keys: Keys, tmp_path: Path) -> AsyncIterator[Served]:
    async for s in serve(redis_server, keys, dashboard_settings(tmp_path / "var"), SimClock(NOW)):
        yield s


def position(symbol: str = "BTCUSDT", side: PositionSide = PositionSide.LONG) -> LedgerPosition:
    return LedgerPosition(
        symbol=symbol,
        side=side,
        qty=Decimal("0.010"),
        entry_price=Decimal("42000.0"),
        leverage=5,
        position_id=f"{symbol}:qe-{'a' * 28}",
        version=3,
        opened_at=NOW - 600_000,
        updated_at=NOW - 300_000,
        open_client_order_id=f"qe-{'a' * 28}",
        initial_qty=Decimal("0.010"),
        initial_stop=Decimal("41500.0"),
        stop_price=Decimal("41500.0"),
        stop_order_id=f"qs-{'b' * 28}",
        ladder_stage=0,
        realized_pnl=Decimal(0),
        fees=Decimal("0.168"),
        source="plan",
    )


async def hold(served: Served, p: LedgerPosition) -> None:
    await RedisLedger(served.redis, served.keys).replace(p, p.symbol)
