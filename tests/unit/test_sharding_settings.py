"""The ``sharding`` settings: a bad value is one line naming it and its fix; the default is
one shard (unsharded); every service is built with the configured section."""

from __future__ import annotations

import pytest

from quantum_trader.bootstrap import trading_config
from quantum_trader.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("QUANTUM_SHARDING__SHARDS", "0", "shards must be in 1..256 (1: unsharded)"),
        ("QUANTUM_SHARDING__LEASE_MS", "50", "lease_ms must be in 100..600000"),
        ("QUANTUM_SHARDING__RENEW_MS", "1500", "under half of lease_ms (3000)"),
        ("QUANTUM_SHARDING__RENEW_MS", "1500", "e.g. renew_ms=1000"),
        ("QUANTUM_SHARDING__PREFER", "1", "shard 1 does not exist with shards=1"),
        ("QUANTUM_SHARDING__PREFER", "0,zero", "is not a list of shard numbers"),
    ],
)
def test_a_bad_sharding_setting_is_one_line_naming_it_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, says: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and f"(env {env})" in message and says in message


def test_a_shard_preferred_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="prefer: each shard may appear once"):
        load_settings(sharding={"shards": 4, "prefer": [1, 1]})


def test_the_default_is_one_shard_and_every_service_gets_the_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = load_settings().sharding
    assert (default.shards, default.lease_ms, default.renew_ms, default.prefer) == (
        1,
        3000,
        1000,
        (),
    )
    monkeypatch.setenv("QUANTUM_SHARDING__SHARDS", "4")
    monkeypatch.setenv("QUANTUM_SHARDING__PREFER", "2,0")
    settings = load_settings()
    assert settings.sharding.prefer == (2, 0)
    built = trading_config(settings)
    assert built.sharding == settings.sharding and built.bridge.shards == 4
