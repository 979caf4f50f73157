"""``quantum service dashboard``: the dashboard as a unit runs it — listening as its
settings say, READY once it serves, WATCHDOG while it does, STOPPING and exit 0 at
SIGTERM; and a remote address it may not take is refused with exit 2."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

from quantum_trader.bus.keys import Keys
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from tests.integration.ops.run_process import start, stop
from tests.integration.ops.systemd_socket import next_message, systemd_socket

__all__ = ["systemd_socket"]  # the fixture, shared


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_dashboard_service_serves_and_tells_its_unit(
    redis_server: EmbeddedRedis,
    keys: Keys,
    tmp_path: Path,
    systemd_socket: tuple[str, socket.socket],
) -> None:
    path, sock = systemd_socket
    port = free_port()
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": keys.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_DASHBOARD__PORT": str(port),
        "QUANTUM_HEARTBEAT_INTERVAL_MS": "100",
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "1000000",
    }
    proc = start(["service", "dashboard"], env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        ready = next_message(sock, deadline)
        assert ready is not None and ready.startswith("READY=1"), (ready, stop(proc))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as reply:
            assert reply.status == 200
        assert next_message(sock, deadline) == "WATCHDOG=1"
        assert next_message(sock, deadline) == "WATCHDOG=1"
        os.killpg(proc.pid, signal.SIGTERM)
        seen = []
        while not any(m.startswith("STOPPING=1") for m in seen):
            message = next_message(sock, deadline)
            assert message is not None, (seen, stop(proc))
            seen.append(message)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (out, err)
        assert f"dashboard: http://127.0.0.1:{port}" in out
    finally:
        stop(proc)


def test_a_remote_address_without_allow_remote_is_refused(
    redis_server: EmbeddedRedis, keys: Keys, tmp_path: Path
) -> None:
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_DASHBOARD__HOST": "0.0.0.0",
    }
    proc = start(["service", "dashboard"], env, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert out.startswith("dashboard: dashboard.host 0.0.0.0") and "dashboard.allow_remote" in out
