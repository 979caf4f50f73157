"""Drive ``quantum`` as a user does: a real process, real signals, a real redis-server.

Waits are on conditions (the lock file naming the run's Redis, bars arriving on the
run's market stream through a blocking XREAD), bounded, never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

QUANTUM = [sys.executable, "-m", "quantum_trader.cli"]


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("QUANTUM_")}
    full.update(env)
    full["COLUMNS"] = "200"
    return subprocess.Popen(
        [*QUANTUM, *args],
        env=full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_run(
    proc: subprocess.Popen[str], data_dir: Path, timeout_s: float = 60
) -> dict[str, Any]:
    """The lock file's facts once the run has reached its Redis."""
    lock = data_dir / "quantum.lock"
    for _ in range(int(timeout_s / 0.05)):
        try:
            info = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if "redis_url" in info and "key_prefix" in info:
            return dict(info)
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        out, err = proc.communicate()
        raise AssertionError(f"quantum exited early ({proc.returncode}): {out}\n{err}")
    raise AssertionError("the run never recorded its Redis in the lock file")


def wait_for_bars(url: str, prefix: str, count: int, timeout_s: float = 120) -> None:
    """Block until the run has published ``count`` bars on its market stream."""
    client = redis.Redis.from_url(url, socket_timeout=5.0)
    stream, last, seen = f"{prefix}stream:market", "0", 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{seen} of {count} bars on {stream} within {timeout_s} s")
            try:
                got = client.xread({stream: last}, count=100, block=1000)
            except redis.exceptions.TimeoutError:
                continue  # a slow server under load: look again until the deadline
            if not got:
                continue
            entries = got[0][1]
            seen += len(entries)
            last = entries[-1][0]
    finally:
        client.close()


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Kill a run that is still going, with every process it started (its session), and
    collect what it printed (no process or pipe left behind)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate(timeout=30)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")
