"""Hosts on one machine (``ops.hosts.netns``): each a network namespace with its own
address, reachable from the others until a fault cuts it.

Real processes only: redis-server in each namespace (the project's own binary, also
run as a Sentinel), probes that run inside a namespace as a client there would. Needs
root (CI runs as root; ``scripts/ensure-tools.sh`` installs iptables)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from quantum_trader.infra.embedded_redis import find_binary
from quantum_trader.ops.hosts.netns import Hosts, HostsError, preflight

HOSTS = ("r1", "r2", "r3", "app")
MASTER = "quantum"


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    try:
        preflight()
    except HostsError as exc:
        pytest.fail(f"{exc} (scripts/ensure-tools.sh installs iptables; run as root)")
    built = Hosts(HOSTS, tag=uuid.uuid4().hex[:4], net=78).build()
    try:
        yield built
    finally:
        built.close()


def probe(hosts: Hosts, host: str, code: str) -> str:
    """Run Python ``code`` inside ``host``'s namespace; its stdout (or ``ERR ...``)."""
    wrapped = f"import redis\ntry:\n{_indent(code)}\nexcept Exception as e: print('ERR', e)"
    done = subprocess.run(
        hosts.command(host, [sys.executable, "-c", wrapped]),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout.strip() or f"ERR {done.stderr.strip()[-200:]}"


def _indent(code: str) -> str:
    return "\n".join(f"    {line}" for line in code.splitlines())


def until(check: object, what: str, seconds: float = 30.0) -> str:
    """Bounded polling of ``check()`` (a probe) until it returns a non-error answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()  # type: ignore[operator]
        if answer and not str(answer).startswith("ERR"):
            return str(answer)
        assert time.monotonic() < deadline, f"{what}: last answer {answer!r}"


def test_hosts_reach_each_other_until_a_partition_cuts_one_off(hosts: Hosts) -> None:
    server = subprocess.Popen(
        hosts.command("r1", [find_binary(), "--port", "6390", "--bind", "0.0.0.0",
                             "--protected-mode", "no", "--save", ""]),
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        r1 = hosts.addresses["r1"]
        ping = f"print(redis.Redis('{r1}', 6390, socket_timeout=1, socket_connect_timeout=1)"
        ping = f"{ping}.ping())"
        assert until(lambda: probe(hosts, "app", ping), "r1 up") == "True"
        hosts.partition(["app"], ["r1"])
        assert probe(hosts, "app", ping).startswith("ERR")
        assert probe(hosts, "r2", ping) == "True"  # only app <-> r1 is cut
        hosts.heal()
        assert until(lambda: probe(hosts, "app", ping), "healed") == "True"
        assert hosts.stop_host("r1") >= 1  # a frozen host answers nothing
        assert probe(hosts, "app", ping).startswith("ERR")
        hosts.continue_host("r1")
        assert until(lambda: probe(hosts, "app", ping), "continued") == "True"
    finally:
        server.kill()
        server.wait(10)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert hosts.namespace("r1") in names
