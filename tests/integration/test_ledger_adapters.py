"""The Redis ledger keeps every promise of the ledger port (the shared case table, the
same the in-memory ledger passes), on a real redis-server."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.services.ledger import RedisLedger
from tests.unit.services.ledger_cases import CASES


@pytest.mark.parametrize("case", list(CASES))
async def test_redis_ledger(case: str, redis_client: aioredis.Redis, keys: Keys) -> None:
    await CASES[case](RedisLedger(redis_client, keys))
