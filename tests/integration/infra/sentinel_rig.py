"""A real Redis failover topology on loopback: a primary with AOF, one replica, three
sentinels (quorum 2), every one its own redis-server process (the binary the project
runs, ``embedded_redis.find_binary``), each with a password, in a temporary directory.

Waits are bounded polls of those processes (``poll``), never fixed sleeps; ``stop``
kills every process this rig started, whatever state the test left them in.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from quantum_trader.infra.embedded_redis import find_binary, free_port

MASTER = "quantum"
PASSWORD = "primary-secret"
SENTINEL_PASSWORD = "sentinel-secret"
DOWN_AFTER_MS = 600
FAILOVER_TIMEOUT_MS = 3_000


async def poll(what: str, check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """``check()`` (plain or awaitable) until it is truthy, at most ``timeout_s``: the
    other processes (sentinels electing a leader, a replica syncing) keep their own time."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(0.05)  # bounded polling of another process


@dataclass
class Node:
    """One redis-server process: a data node or a sentinel."""

    name: str
    home: Path
    port: int
    config: str
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        conf = self.home / ("sentinel.conf" if self.sentinel else "redis.conf")
        if not conf.exists():  # a restarted sentinel keeps what it rewrote
            conf.write_text(self.config)
        args = [find_binary(), str(conf), *(["--sentinel"] if self.sentinel else [])]
        self.process = subprocess.Popen(  # our binary, our config
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: the host died; nothing is flushed or handed over."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        password = SENTINEL_PASSWORD if self.sentinel else PASSWORD
        return redis.Redis(port=self.port, password=password, socket_timeout=1.0)

    def answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    def role(self) -> str:
        """``master`` / ``slave`` / ``down``, and for a replica whether it is in sync."""
        try:
            with self.client() as c:
                info = c.info("replication")
        except redis.RedisError:
            return "down"
        if info["role"] == "master":
            return "master"
        return "slave:up" if info.get("master_link_status") == "up" else "slave:syncing"


def _data_config(home: Path, port: int, replica_of: int | None) -> str:
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {home}",
        "appendonly yes",
        "appendfsync always",
        'save ""',
        f"requirepass {PASSWORD}",
        f"masterauth {PASSWORD}",
        f"logfile {home / 'redis.log'}",
    ]
    if replica_of is not None:
        lines.append(f"replicaof 127.0.0.1 {replica_of}")
    return "\n".join(lines) + "\n"


def _sentinel_config(home: Path, port: int, primary: int) -> str:
    return (
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                f"dir {home}",
                f"logfile {home / 'sentinel.log'}",
                f"requirepass {SENTINEL_PASSWORD}",
                f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
                f"sentinel auth-pass {MASTER} {PASSWORD}",
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER} 1",
            ]
        )
        + "\n"
    )


@dataclass
class Topology:
    root: Path
    data: dict[str, Node] = field(default_factory=dict)  # "a" (first primary), "b"
    sentinels: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        a, b = free_port(), free_port()
        self.data["a"] = Node("a", self.root / "a", a, _data_config(self.root / "a", a, None))
        self.data["b"] = Node("b", self.root / "b", b, _data_config(self.root / "b", b, a))
        for n in range(3):
            home, port = self.root / f"s{n}", free_port()
            self.sentinels.append(
                Node(f"s{n}", home, port, _sentinel_config(home, port, a), sentinel=True)
            )

    @property
    def addresses(self) -> str:
        """``QUANTUM_REDIS__SENTINELS``."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    async def start(self) -> None:
        for node in self.data.values():
            node.start()
        await poll("both data nodes answer", self._all_answer)
        await self.in_sync("b")
        for sentinel in self.sentinels:
            sentinel.start()
        await poll("the sentinels see the primary, the replica and each other", self._known)

    async def _all_answer(self) -> bool:
        return all(n.answers() for n in self.data.values())

    async def _known(self) -> bool:
        for s in self.sentinels:
            try:
                with s.client() as c:
                    state = c.sentinel_master(MASTER)
            except redis.RedisError:
                return False
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def primary_port(self) -> int | None:
        """The primary's port as a majority of the live sentinels name it."""
        votes: dict[int, int] = {}
        for s in self.sentinels:
            if not s.alive:
                continue
            try:
                with s.client() as c:
                    addr = c.sentinel_get_master_addr_by_name(MASTER)
            except redis.RedisError:
                continue
            if addr:
                votes[int(addr[1])] = votes.get(int(addr[1]), 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best is not None and best[1] >= 2 else None

    async def promoted(self, name: str, timeout_s: float = 30.0) -> None:
        """Sentinel names ``name`` the primary and ``name`` itself says it is one."""
        node = self.data[name]

        async def done() -> bool:
            return self.primary_port() == node.port and node.role() == "master"

        await poll(f"sentinel promotes {name}", done, timeout_s)

    async def in_sync(self, name: str, timeout_s: float = 30.0) -> None:
        """``name`` is a replica whose link to the primary is up (it can be promoted)."""
        node = self.data[name]

        async def synced() -> bool:
            return node.role() == "slave:up"

        await poll(f"{name} replicates in sync", synced, timeout_s)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data.values()]:
            node.kill()
