"""Shared fixtures: a real redis-server per test session, on a free port, AOF fsync always."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.infra.embedded_redis import EmbeddedRedis

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_prefixes = itertools.count()


def shared_data(relative: str) -> Path:
    """A file (or directory) of the real Binance material in ``../shared/data``, read in
    place. It is part of the test suite's inputs (CI always has it): a test that needs it
    fails when it is missing rather than passing without having run."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the real Binance material lives in ../shared/data beside "
            "this repository (clone it there to run the tests)"
        )
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), fsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own, for tests that flush it or starve its memory."""
    server = EmbeddedRedis(tmp_path / "redis", fsync="always").start()
    yield server
    server.stop()


@pytest.fixture
async def own_redis_client(own_redis: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(own_redis.url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in a test points the root logger at its captured stderr, which is
    closed once the command returns: every test starts from the handlers it found."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def keys() -> Keys:
    """A fresh key prefix per test: tests share one server but never each other's keys."""
    return Keys(prefix=f"t{next(_prefixes)}:")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``make test`` runs on two workers (pytest-xdist, ``--dist loadgroup``): the long
    runs and the chaos soak share one, one after the other, so the heaviest tests never
    compete with each other for the machine's two cores; everything else spreads."""
    for item in items:
        if item.get_closest_marker("long") or item.get_closest_marker("chaos"):
            item.add_marker(pytest.mark.xdist_group("heavy"))
