"""The ``redis`` settings: a bad value is one line naming it; the connection factory picks
Sentinel or the one URL from them, and takes the primary's credentials where they are."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool

from quantum_trader.config import ConfigError, load_settings
from quantum_trader.infra.connect import resolve_redis_url
from quantum_trader.infra.redis_connect import (
    SentinelMaster,
    master_client,
    master_client_sync,
    sentinel_url,
)


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("QUANTUM_REDIS__SENTINELS", "10.0.0.5", "'10.0.0.5' is not host:port"),
        ("QUANTUM_REDIS__SENTINELS", "10.0.0.5:0", "'10.0.0.5:0' is not host:port"),
        ("QUANTUM_REDIS__MASTER_NAME", "my master", "must be letters, digits and _.-"),
        ("QUANTUM_REDIS__WAIT_REPLICAS", "17", "wait_replicas must be in 0..16"),
        ("QUANTUM_REDIS__WAIT_TIMEOUT_MS", "0", "wait_timeout_ms must be in 1..60000"),
    ],
)
def test_a_bad_redis_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, says: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and f"(env {env})" in message and says in message


def test_sentinels_are_a_comma_list_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTUM_REDIS__SENTINELS", " 10.0.0.5:26379, [::1]:26380 ")
    assert load_settings().redis.addresses() == [("10.0.0.5", 26379), ("::1", 26380)]
    monkeypatch.setenv("QUANTUM_REDIS__SENTINELS", '["h1:26379", "h2:26379"]')
    assert load_settings().redis.sentinels == ("h1:26379", "h2:26379")


def test_the_sentinel_password_is_masked_where_settings_are_shown() -> None:
    shown = load_settings(redis={"sentinel_password": "s3cret", "password": "p4ss"}).masked()
    assert "s3cret" not in str(shown) and "p4ss" not in str(shown)


async def test_without_sentinels_the_client_is_the_one_url_as_before() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:6390/2")
    client = master_client(settings, socket_connect_timeout=2)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_connect_timeout"]) == (6390, 2, 2)
    assert not isinstance(client, SentinelMaster)
    await client.aclose()


async def test_with_sentinels_the_primary_is_asked_of_them_with_the_urls_credentials() -> None:
    settings = load_settings(
        redis_url="rediss://trader:from-url@unused-host:6379/3",
        redis={"sentinels": "s1:26379,s2:26379", "master_name": "prod", "password": "x"},
    )
    client = master_client(settings)
    pool = client.connection_pool
    assert isinstance(client, SentinelMaster) and isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "prod"
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("trader", "from-url", 3)
    assert "host" not in kwargs  # the URL's host is never dialled
    await client.aclose()
    assert client.sentinels is None  # its sentinel connections went with it
    blocking = master_client_sync(
        load_settings(redis={"sentinels": "s1:26379", "password": "pw"}), socket_timeout=1
    )
    assert blocking.connection_pool.connection_kwargs["password"] == "pw"
    blocking.close()


def test_a_command_names_the_sentinels_when_they_are_configured() -> None:
    settings = load_settings(redis={"sentinels": "s1:26379,s2:26379"})
    assert resolve_redis_url(settings) == sentinel_url(settings)
    assert sentinel_url(settings) == "redis+sentinel://s1:26379,s2:26379/quantum"
