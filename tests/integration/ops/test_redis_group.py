"""Redis as deployed across hosts (``ops.hosts.redis_group``): a primary, a replica and
three Sentinels on three network namespaces, reached from a fourth host the way the
multi-host run's orchestrator reaches them (``ops.hosts.enter.inside``). Real
redis-server processes; needs root and iptables (``scripts/ensure-tools.sh``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from quantum_trader.ops.hosts.enter import inside
from quantum_trader.ops.hosts.netns import Hosts, HostsError, preflight
from quantum_trader.ops.hosts.redis_group import DATA_PORT, RedisGroup

pytestmark = pytest.mark.xdist_group("hosts")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    try:
        preflight()
    except HostsError as exc:
        pytest.fail(f"{exc} (scripts/ensure-tools.sh installs iptables; run as root)")
    built = Hosts(("r1", "r2", "r3", "x"), tag=uuid.uuid4().hex[:4], net=79).build()
    try:
        yield built
    finally:
        built.close()


def test_a_killed_primary_and_a_cut_off_one_each_fail_over_keeping_acknowledged_writes(
    hosts: Hosts, tmp_path: Path
) -> None:
    with inside(hosts.namespace("x")):
        group = RedisGroup(hosts, tmp_path).start()
        try:
            assert group.primary_host() == "r1" and group.failovers == 0
            with redis.Redis(hosts.addresses["r1"], DATA_PORT) as primary:
                primary.set("acknowledged", "yes")
                assert primary.wait(1, 2000) == 1  # on the replica before the crash

            dead = group.kill_primary()
            assert dead == "r1"
            promoted = group.await_failover("r1")
            assert promoted == "r2" and group.failovers == 1
            with redis.Redis(hosts.addresses["r2"], DATA_PORT) as primary:
                assert primary.get("acknowledged") == b"yes"
            group.revive("r1")  # back as a replica, known to the sentinels

            hosts.isolate("r2")  # the primary's host (and one sentinel) cut off
            assert group.await_failover("r2") == "r1" and group.failovers == 2
            with redis.Redis(hosts.addresses["r1"], DATA_PORT) as primary:
                assert primary.get("acknowledged") == b"yes"
                assert primary.role()[0] == b"master"
        finally:
            hosts.heal()
            group.stop()
