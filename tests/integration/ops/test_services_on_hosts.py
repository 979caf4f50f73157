"""Services placed on hosts (``ServiceProcesses.launcher``): a zygote per host, started in
that host's network namespace, forks the host's services there — they reach Redis on
another host over the virtual switch, and a partition cuts them off as it would a
machine. Real processes; needs root and iptables (``scripts/ensure-tools.sh``)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from quantum_trader.bus.keys import Keys
from quantum_trader.config import load_settings
from quantum_trader.infra.embedded_redis import find_binary
from quantum_trader.ops.hosts.enter import inside
from quantum_trader.ops.hosts.netns import Hosts, HostsError, preflight
from quantum_trader.ops.service_main import ServiceSetup
from quantum_trader.ops.stepped.processes import ServiceProcesses

pytestmark = pytest.mark.xdist_group("hosts")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    try:
        preflight()
    except HostsError as exc:
        pytest.fail(f"{exc} (scripts/ensure-tools.sh installs iptables; run as root)")
    built = Hosts(("db", "svc-a", "svc-b"), tag=uuid.uuid4().hex[:4], net=80).build()
    try:
        yield built
    finally:
        built.close()


def until(what: str, check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(0.05)  # bounded polling of processes this test does not drive


def test_each_host_forks_its_own_services_which_reach_redis_across_the_switch(
    hosts: Hosts, tmp_path: Path
) -> None:
    server = subprocess.Popen(
        hosts.command("db", [find_binary(), "--port", "6379", "--bind", "0.0.0.0",
                             "--protected-mode", "no", "--save", "", "--dir", str(tmp_path)]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    keys = Keys("hosts:")
    url = f"redis://{hosts.addresses['db']}:6379/0"
    settings = load_settings(redis_url=url, key_prefix=keys.prefix, data_dir=tmp_path / "var",
                             metrics={"base_port": 0})  # fmt: skip
    setup = ServiceSetup(settings=settings, exchange_url="", symbols=("BTCUSDT",))
    placed = {"watchdog": "svc-a", "watchdog#2": "svc-b"}
    procs = ServiceProcesses(
        tuple(placed), setup, launcher=lambda name: hosts.command(placed[name], [])
    )
    try:
        with inside(hosts.namespace("db")), redis.Redis.from_url(url) as db:
            until("redis answers", lambda: _answers(db))
            procs.start_all()
            until("both watchdogs beat", lambda: len(db.keys(f"{keys.prefix}health:*")) >= 1)
            for name, host in placed.items():
                assert procs.pids[name] in hosts.pids(host), (name, host)
                assert procs.pids[name] not in hosts.pids("db")
            assert len(procs._zygotes) == 2  # one per host
            hosts.isolate("svc-a")
            hosts.isolate("svc-b")
            beat = keys.health("watchdog")
            until("the cut-off watchdogs' beat expires", lambda: not db.exists(beat))
            hosts.heal()
            until("they beat again once the network heals", lambda: db.exists(beat))
    finally:
        procs.stop_all()
        server.kill()
        server.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
