"""The Redis-backed rig every service test drives by hand (SimClock, ``poll(0)``, ticks)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from tests.integration.services.market_rig import Rig, make_rig


@pytest.fixture
def rig(redis_client: aioredis.Redis, keys: Keys) -> Rig:
    return make_rig(redis_client, keys)
