"""Fixtures for apply-layer integration tests (real Redis, in-process simulated exchange)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from tests.integration.apply.rig import ApplyRig, make_rig


@pytest.fixture
async def rig(redis_client: aioredis.Redis, keys: Keys) -> ApplyRig:
    return await make_rig(redis_client, keys)
