"""``quantum kill-switch on|off|status`` against a real redis-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from quantum_trader.bus.keys import Keys
from quantum_trader.cli.kill_switch import app
from quantum_trader.infra.embedded_redis import EmbeddedRedis

runner = CliRunner()


@pytest.fixture
def client(
    redis_server: EmbeddedRedis, keys: Keys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[redis.Redis]:
    monkeypatch.setenv("QUANTUM_REDIS_URL", redis_server.url)
    monkeypatch.setenv("QUANTUM_KEY_PREFIX", keys.prefix)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path))
    sync = redis.Redis.from_url(redis_server.url)
    yield sync
    sync.close()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_on_writes_the_kill_switch_as_a_json_string_with_reason_and_time(
    client: redis.Redis, keys: Keys
) -> None:
    code, out = invoke("on", "--reason", "exchange maintenance")
    assert code == 0, out
    assert "kill switch ON: exchange maintenance" in out
    assert client.type(keys.risk_kill_switch) == b"string"
    value = json.loads(client.get(keys.risk_kill_switch))  # type: ignore[arg-type]
    assert value["reason"] == "exchange maintenance" and value["at"] > 1_600_000_000_000


def test_on_without_a_reason_is_refused_and_writes_nothing(client: redis.Redis, keys: Keys) -> None:
    code, _ = invoke("on")
    assert code == 2
    code, out = invoke("on", "--reason", "  ")
    assert code == 2 and "--reason must not be empty" in out
    assert client.exists(keys.risk_kill_switch) == 0


def test_status_shows_the_switch_and_the_risk_guard_state(client: redis.Redis, keys: Keys) -> None:
    code, out = invoke("status", "--json")
    assert code == 0
    assert json.loads(out) == {"kill_switch": None, "risk_state": None, "circuit_breaker": None}
    assert "kill switch: off" in invoke("status")[1]

    invoke("on", "--reason", "drill")
    risk = {"mode": "HALT", "reasons": ["kill_switch"], "since": 5, "updated_at": 6}
    client.set(keys.risk_state, json.dumps(risk))
    code, out = invoke("status", "--json")
    shown = json.loads(out)
    assert shown["kill_switch"]["reason"] == "drill"
    assert shown["kill_switch"]["at_iso"].endswith("Z")  # ms kept, ISO added beside it
    assert shown["risk_state"] == {
        **risk,
        "since_iso": "1970-01-01T00:00:00Z",
        "updated_at_iso": "1970-01-01T00:00:00Z",
    }
    at_7am = 1_704_092_400_000  # 2024-01-01T07:00:00Z
    client.set(keys.risk_state, json.dumps({**risk, "since": at_7am, "updated_at": at_7am}))
    code, out = invoke("status")
    assert code == 0
    out = " ".join(out.split())  # the console wraps long lines
    assert "kill switch: ON (drill, since 20" in out and " ago)" in out
    assert "risk mode: HALT since 2024-01-01T07:00:00Z (" in out
    assert "(reasons: kill_switch; updated 2024-01-01T07:00:00Z (" in out
    assert str(at_7am) not in out  # no epoch ms for people


def test_off_deletes_the_switch_and_says_when_it_was_not_on(
    client: redis.Redis, keys: Keys
) -> None:
    invoke("on", "--reason", "drill")
    assert invoke("off") == (0, "kill switch OFF\n")
    assert client.exists(keys.risk_kill_switch) == 0
    assert invoke("off") == (0, "kill switch was not engaged\n")


def test_no_redis_is_one_line_of_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path))
    code, out = invoke("status")
    assert code == 2
    assert "no Redis: set QUANTUM_REDIS_URL" in out and "Traceback" not in out


def test_unreachable_redis_is_one_line_of_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUANTUM_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path))
    code, out = invoke("off")
    assert code == 2 and "cannot talk to Redis" in out
