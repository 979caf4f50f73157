"""A paper run a user can trust: it owns only what it creates, one run per data directory,
one embedded server per data directory, and a signal ends it with its summary."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from quantum_trader.infra import data_dir
from quantum_trader.infra.embedded_redis import EmbeddedRedis, read_state, stop_recorded
from tests.integration.ops.run_process import pid_alive, start, wait_for_bars, wait_for_run

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_a_signal_mid_run_stops_entries_writes_the_summary_and_leaves_no_process(
    tmp_path: Path, sig: signal.Signals, name: str
) -> None:
    var, out = tmp_path / "var", tmp_path / "summary.json"
    proc = start(
        ["run", "--symbol-count", "2", "--duration", "12", "--json", str(out)],
        {"QUANTUM_DATA_DIR": str(var)},
        tmp_path,
    )
    try:
        info = wait_for_run(proc, var)
        server = read_state(var / "redis")
        assert server is not None
        wait_for_bars(info["redis_url"], info["key_prefix"], 2 * 30)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    summary = json.loads(out.read_text())
    assert summary["stopped_early"].startswith(name)
    assert summary["settings"]["strategies"]["names"], "the summary names its settings"
    assert 0 < summary["market_minutes_run"] < 12 * 60
    assert f"stopped early after {summary['market_minutes_run']}" in stdout
    assert not pid_alive(int(server["pid"])), "the embedded redis-server outlived the run"
    assert data_dir.running(var) is None


def test_a_run_on_a_redis_holding_another_systems_state_touches_none_of_it(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    prefix = "othersys:"
    client = redis.Redis.from_url(redis_server.url)
    client.set(f"{prefix}unrelated", "keep me")
    client.hset(f"{prefix}position:BTCUSDT", mapping={"side": "LONG", "qty": "0.010"})
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
    }
    switch = start(["kill-switch", "on", "--reason", "operator test"], env, tmp_path)
    assert switch.communicate(timeout=30) and switch.returncode == 0
    before = {k: client.dump(k) for k in client.scan_iter(match=f"{prefix}*")}
    out = tmp_path / "summary.json"
    run = start(
        ["run", "--symbol-count", "3", "--duration", "1", "--json", str(out)], env, tmp_path
    )
    _, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, stderr
    summary = json.loads(out.read_text())
    assert summary["entries"] == 0, "the operator's kill switch must hold for the run"
    after = {k: client.dump(k) for k in client.scan_iter(match=f"{prefix}*")}
    assert after == before, "the run changed or deleted state it did not create"
    client.close()


def test_a_second_run_on_the_same_data_directory_fails_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    with data_dir.hold(var, command="quantum run (paper)", run_id="first") as held:
        proc = start(["run", "--duration", "0.1"], {"QUANTUM_DATA_DIR": str(var)}, tmp_path)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"pid {held['pid']}" in lines[0] and "in use" in lines[0]
    assert not (var / "redis").exists(), "the refused run must not start a server"


def test_a_run_reuses_the_data_directorys_running_server_and_leaves_it_running(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    env = {"QUANTUM_DATA_DIR": str(var)}
    started = start(["redis", "start"], env, tmp_path)
    assert started.communicate(timeout=30) and started.returncode == 0
    try:
        before = read_state(var / "redis")
        assert before is not None
        run = start(["run", "--symbol-count", "1", "--duration", "0.2"], env, tmp_path)
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        after = read_state(var / "redis")
        assert after == before, "the run started a second server or forgot the first"
        assert pid_alive(int(before["pid"]))
        aof = list((var / "redis").rglob("appendonly.aof*"))
        assert aof, "the shared server keeps its AOF"
    finally:
        stop_recorded(var / "redis")


def test_an_unwritable_json_path_is_refused_before_the_run_starts(tmp_path: Path) -> None:
    var = tmp_path / "var"
    proc = start(
        ["run", "--duration", "0.1", "--json", "/proc/nope/summary.json"],
        {"QUANTUM_DATA_DIR": str(var)},
        tmp_path,
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--json" in stderr and "Traceback" not in stderr
    assert not (var / "redis").exists()


def test_a_second_signal_aborts_without_a_summary(tmp_path: Path) -> None:
    var, out = tmp_path / "var", tmp_path / "summary.json"
    proc = start(
        ["run", "--symbol-count", "2", "--duration", "12", "--json", str(out)],
        {"QUANTUM_DATA_DIR": str(var)},
        tmp_path,
    )
    try:
        info = wait_for_run(proc, var)
        wait_for_bars(info["redis_url"], info["key_prefix"], 2 * 10)
        # Both signals must reach the run before it can finish the bar in hand: hold it
        # (SIGSTOP), queue a SIGINT and a SIGTERM, and let it go. It takes one first (the
        # kernel picks the order), then the other aborts.
        proc.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{proc.pid}/stat")
        while stat.read_text().split(") ", 1)[1][0] != "T":
            pass  # until the kernel has stopped it
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    aborted_by = "SIGTERM" if "SIGTERM: aborted" in stderr else "SIGINT"
    assert proc.returncode == {"SIGTERM": 143, "SIGINT": 130}[aborted_by], stderr
    assert "finishing the bar in hand" in stderr and f"{aborted_by}: aborted" in stderr
    assert not out.exists()
