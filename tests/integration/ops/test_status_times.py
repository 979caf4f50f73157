"""``quantum status`` against a real redis-server: nothing running says so (exit 1), and
times are ISO-8601 UTC with their age, never epoch ms (``--json`` adds ``*_iso``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import typer
from rich.console import Console
from typer.testing import CliRunner

from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Heartbeat
from quantum_trader.cli.status import status_command
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.observability import status as status_module

runner = CliRunner()
app = typer.Typer()
app.command("status")(status_command)  # the one command: invoked with its options only
SEVEN_AM = 1_704_092_400_000  # 2024-01-01T07:00:00Z


@pytest.fixture
def client(
    redis_server: EmbeddedRedis, keys: Keys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[redis.Redis]:
    monkeypatch.setenv("QUANTUM_REDIS_URL", redis_server.url)
    monkeypatch.setenv("QUANTUM_KEY_PREFIX", keys.prefix)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(status_module, "console", Console(width=200))  # no wrapped cells
    sync = redis.Redis.from_url(redis_server.url)
    yield sync
    sync.close()


def status(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_an_empty_redis_says_no_system_is_running_and_exits_1(client: redis.Redis) -> None:
    code, out = status()
    assert code == 1, out
    assert "no system is running" in out and "Traceback" not in out
    code, out = status("--json")
    assert code == 1
    assert json.loads(out[out.index("{\n") :])["running"] is False  # stderr comes first


def test_a_running_system_shows_iso_times_with_their_age(client: redis.Redis, keys: Keys) -> None:
    beat = Heartbeat(
        msg_id="hb-1",
        ts_event=SEVEN_AM,
        ts_init=SEVEN_AM,
        source="ledger",
        service="ledger",
        instance="i-1",
        pid=1,
        status="ok",
        started_at=SEVEN_AM - 60_000,
    )
    client.set(keys.health("ledger"), encode(beat), px=60_000)
    risk = {"mode": "REDUCE_ONLY", "reasons": ["EQUITY_STALE"], "since": SEVEN_AM}
    client.set(keys.risk_state, json.dumps({**risk, "updated_at": SEVEN_AM}))
    client.set(keys.risk_kill_switch, json.dumps({"reason": "drill", "at": SEVEN_AM}))

    code, out = status()
    assert code == 0, out
    flat = " ".join(out.split())
    assert "since 2024-01-01T07:00:00Z (" in flat and " ago)" in flat
    assert "kill switch ON: drill since 2024-01-01T07:00:00Z (" in flat
    assert "2024-01-01T07:00:00Z" in out.split("services", 1)[1]  # the ledger's last beat
    assert str(SEVEN_AM) not in out

    code, out = status("--json")
    assert code == 0
    data = json.loads(out)
    assert data["risk"]["state"]["since"] == SEVEN_AM  # ms kept
    assert data["risk"]["state"]["since_iso"] == "2024-01-01T07:00:00Z"
    assert data["risk"]["kill_switch"]["at_iso"] == "2024-01-01T07:00:00Z"
    ledger = data["services"]["ledger"]
    assert (ledger["last_beat"], ledger["last_beat_iso"]) == (SEVEN_AM, "2024-01-01T07:00:00Z")
    assert ledger["started_at_iso"] == "2024-01-01T06:59:00Z"
