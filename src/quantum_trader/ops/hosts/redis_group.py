"""Redis as a deployment runs it, on hosts of one machine (``ops.hosts.netns``): a primary
with an append-only file (fsync always), one replica, and three Sentinels (quorum 2) on
three hosts, every one its own redis-server process (the project's binary).

:meth:`RedisGroup.kill_primary` SIGKILLs whichever server the Sentinels name primary
now (a dead host); the Sentinels promote the replica; :meth:`RedisGroup.revive` starts
the killed server again as a replica of the new primary, as an operator restarting the
machine would (Sentinel would also turn it into one). Waits are bounded polls of the
processes, in wall time: the Sentinels keep their own.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from quantum_trader.infra.embedded_redis import find_binary
from quantum_trader.ops.hosts.netns import Hosts

MASTER_NAME = "quantum"
DATA_PORT, SENTINEL_PORT = 6379, 26379
DOWN_AFTER_MS = 1_000  # a primary silent this long is down (subjectively)
FAILOVER_TIMEOUT_MS = 2_000


class RedisGroupError(RuntimeError):
    pass


@dataclass
class RedisGroup:
    hosts: Hosts
    home: Path
    data_hosts: Sequence[str] = ("r1", "r2")  # the first starts as primary
    sentinel_hosts: Sequence[str] = ("r1", "r2", "r3")
    servers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sentinels: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    failovers: int = 0  # promotions seen by ``primary_host`` since the start
    _last_primary: str | None = None

    @property
    def sentinel_addresses(self) -> tuple[str, ...]:
        """``redis.sentinels`` for every component."""
        return tuple(f"{self.hosts.addresses[h]}:{SENTINEL_PORT}" for h in self.sentinel_hosts)

    @property
    def url(self) -> str:
        """The first primary's URL: with sentinels set it only names the database."""
        return f"redis://{self.hosts.addresses[self.data_hosts[0]]}:{DATA_PORT}/0"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The current primary's process (its CPU is the run's Redis CPU)."""
        host = self._last_primary or self.data_hosts[0]
        return self.servers.get(host)

    def start(self) -> RedisGroup:
        first = self.data_hosts[0]
        self._start_server(first, None)
        for host in self.data_hosts[1:]:
            self._start_server(host, first)
        _poll("the replicas in sync", lambda: all(self._in_sync(h) for h in self.data_hosts[1:]))
        for host in self.sentinel_hosts:
            self._start_sentinel(host, first)
        _poll("the sentinels know the primary, the replica and each other", self._known)
        self._last_primary = first
        return self

    def primary_host(self) -> str | None:
        """The host a majority of the answering Sentinels name primary (None: no
        majority now); counts a change as a failover."""
        votes: dict[str, int] = {}
        for host in self.sentinel_hosts:
            address = self._ask_sentinel(host)
            if address is not None:
                votes[address] = votes.get(address, 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=None)
        if best is None or best[1] < 2:
            return None
        by_address = {a: h for h, a in self.hosts.addresses.items()}
        primary = by_address.get(best[0])
        if primary is not None and primary != self._last_primary:
            self.failovers += 1
            self._last_primary = primary
        return primary

    def kill_primary(self) -> str:
        """SIGKILL the primary's server; the host it ran on."""
        host = self.primary_host() or self._last_primary or self.data_hosts[0]
        proc = self.servers.get(host)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        return host

    def await_failover(self, old: str, timeout_s: float = 30.0) -> str:
        """The host promoted after ``old`` died (bounded wait)."""
        found = _poll(
            f"a primary other than {old}",
            lambda: (lambda p: p if p not in (None, old) else None)(self.primary_host()),
            timeout_s,
        )
        return str(found)

    def revive(self, host: str) -> None:
        """Start ``host``'s server again, a replica of the primary the Sentinels name."""
        primary = self.primary_host()
        if primary is None or primary == host:
            raise RedisGroupError(f"no other primary to make {host} a replica of")
        self._start_server(host, primary)
        # the Sentinels learn a replica from the primary's INFO (every 10 s): until then a
        # second failure of the primary would find no replica to promote
        _poll(f"{host} in sync and known to the sentinels",
              lambda: self._in_sync(host) and self._known())  # fmt: skip

    def alive(self, host: str) -> bool:
        proc = self.servers.get(host)
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            if proc.poll() is None:
                proc.kill()
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            proc.wait(10)

    # -- processes ---------------------------------------------------------------------

    def _start_server(self, host: str, replica_of: str | None) -> None:
        home = self.home / host
        home.mkdir(parents=True, exist_ok=True)
        args = [
            "--port", str(DATA_PORT), "--bind", "0.0.0.0", "--protected-mode", "no",
            "--dir", str(home), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--logfile", str(home / "redis.log"),
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", self.hosts.addresses[replica_of], str(DATA_PORT)]
        self.servers[host] = self._spawn(host, [find_binary(), *args])

    def _start_sentinel(self, host: str, primary: str) -> None:
        home = self.home / f"{host}-sentinel"
        home.mkdir(parents=True, exist_ok=True)
        conf = home / "sentinel.conf"
        conf.write_text(
            "\n".join([
                f"port {SENTINEL_PORT}", "bind 0.0.0.0", "protected-mode no", f"dir {home}",
                f"logfile {home / 'sentinel.log'}",
                f"sentinel announce-ip {self.hosts.addresses[host]}",
                f"sentinel monitor {MASTER_NAME} {self.hosts.addresses[primary]} {DATA_PORT} 2",
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER_NAME} 1",
            ]) + "\n"
        )  # fmt: skip
        self.sentinels[host] = self._spawn(host, [find_binary(), str(conf), "--sentinel"])

    def _spawn(self, host: str, argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.hosts.command(host, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    # -- questions ---------------------------------------------------------------------

    def _client(self, host: str, port: int) -> redis.Redis:
        # one try: a cut-off host must cost one timeout, not redis-py's retries of it
        return redis.Redis(
            self.hosts.addresses[host], port, socket_timeout=0.5,
            socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0),
        )  # fmt: skip

    def _in_sync(self, host: str) -> bool:
        try:
            with self._client(host, DATA_PORT) as c:
                info = c.info("replication")
        except redis.RedisError:
            return False
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")

    def _known(self) -> bool:
        for host in self.sentinel_hosts:
            try:
                with self._client(host, SENTINEL_PORT) as c:
                    state = c.sentinel_master(MASTER_NAME)
            except redis.RedisError:
                return False
            if int(state["num-slaves"]) < len(self.data_hosts) - 1:
                return False
            if int(state["num-other-sentinels"]) < len(self.sentinel_hosts) - 1:
                return False
        return True

    def _ask_sentinel(self, host: str) -> str | None:
        if not (proc := self.sentinels.get(host)) or proc.poll() is not None:
            return None
        try:
            with self._client(host, SENTINEL_PORT) as c:
                address = c.sentinel_get_master_addr_by_name(MASTER_NAME)
        except redis.RedisError:
            return None
        if not address:
            return None
        host_part = address[0]
        return host_part.decode() if isinstance(host_part, bytes) else str(host_part)


def _poll(what: str, check: Callable[[], object], timeout_s: float = 30.0) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RedisGroupError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.05)  # the other processes keep their own time
