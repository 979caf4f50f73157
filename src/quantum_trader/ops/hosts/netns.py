"""Several "hosts" on one machine: Linux network namespaces joined by one virtual switch.

Each host is a network namespace with its own loopback and one interface ``eth0``
(``10.<net>.0.<n>/24``); the other end of its veth pair sits in a switch namespace that
holds the bridge. Nothing is added to the machine's own namespace but the transient veth
creation: every address, route, firewall rule and bridge lives in the run's namespaces,
and :meth:`Hosts.close` kills what runs in them and deletes them.

Faults are what a network does to hosts:

* :meth:`Hosts.partition` — iptables ``DROP`` between two groups of hosts, both ways
  (``heal`` removes every such rule); a host cut from all others is ``isolate``;
* :meth:`Hosts.lossy` — a random share of a host's packets dropped (iptables'
  ``statistic`` match);
* :meth:`Hosts.stop_host` / :meth:`Hosts.continue_host` — SIGSTOP / SIGCONT of every
  process in a host's namespace (a frozen VM).

Needs root, ``ip`` (iproute2) and ``iptables``. Packet delay (``tc netem``) is used when
the kernel has the ``netem`` queueing discipline (:func:`netem_available`); without it a
delay is not injected and the run says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

IP = shutil.which("ip") or "/usr/sbin/ip"
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"
CHAIN = "QUANTUM-FAULTS"  # every fault rule lives in this chain: heal flushes it


class HostsError(RuntimeError):
    """The namespaces could not be built; the message says what is missing."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise HostsError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def preflight() -> None:
    """Raise :class:`HostsError` naming what this machine lacks for a hosts topology."""
    if os.geteuid() != 0:
        raise HostsError("a hosts topology needs root (network namespaces, iptables)")
    for tool in (IP, IPTABLES):
        if not os.path.exists(tool):
            raise HostsError(f"{tool} is missing: apt-get install iproute2 iptables")


def netem_available(namespace: str) -> bool:
    """Whether the kernel can delay packets (``tc qdisc ... netem``) in ``namespace``."""
    probe = _run(IP, "netns", "exec", namespace, "tc", "qdisc", "add", "dev", "lo", "root",
                 "netem", "delay", "1ms", check=False)  # fmt: skip
    if probe.returncode != 0:
        return False
    _run(IP, "netns", "exec", namespace, "tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return True


@dataclass
class Hosts:
    """Named hosts, each a namespace with one address on a shared /24."""

    names: Sequence[str]
    tag: str  # short and unique per run: namespaces and links carry it
    net: int = 77  # the /24 is 10.<net>.0.0
    addresses: dict[str, str] = field(default_factory=dict)
    _built: list[str] = field(default_factory=list)
    _faults: list[tuple[str, list[str]]] = field(default_factory=list)

    def namespace(self, host: str) -> str:
        return f"qt{self.tag}-{host}"

    @property
    def switch(self) -> str:
        return f"qt{self.tag}-sw"

    def build(self) -> Hosts:
        preflight()
        if len(set(self.names)) != len(self.names) or not 1 <= len(self.names) <= 200:
            raise HostsError(f"hosts must be 1..200 distinct names, got {list(self.names)}")
        try:
            self._add_namespace(self.switch)
            self._ns(self.switch, IP, "link", "add", "br0", "type", "bridge")
            self._ns(self.switch, IP, "link", "set", "br0", "up")
            for n, host in enumerate(self.names, start=1):
                self._add_host(host, n)
        except BaseException:
            self.close()
            raise
        return self

    def _add_namespace(self, name: str) -> None:
        _run(IP, "netns", "del", name, check=False)  # a leftover of a killed run
        _run(IP, "netns", "add", name)
        self._built.append(name)
        self._ns(name, IP, "link", "set", "lo", "up")

    def _add_host(self, host: str, n: int) -> None:
        ns = self.namespace(host)
        self._add_namespace(ns)
        port = f"qt{self.tag}p{n}"[:15]  # interface names are at most 15 characters
        _run(IP, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run(IP, "link", "set", port, "netns", self.switch)
        self._ns(self.switch, IP, "link", "set", port, "master", "br0")
        self._ns(self.switch, IP, "link", "set", port, "up")
        address = f"10.{self.net}.0.{n}"
        self._ns(ns, IP, "addr", "add", f"{address}/24", "dev", "eth0")
        self._ns(ns, IP, "link", "set", "eth0", "up")
        self._ns(ns, IPTABLES, "-N", CHAIN)
        self._ns(ns, IPTABLES, "-I", "INPUT", "-j", CHAIN)
        self._ns(ns, IPTABLES, "-I", "OUTPUT", "-j", CHAIN)
        self.addresses[host] = address

    def _ns(self, namespace: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return _run(IP, "netns", "exec", namespace, *argv)

    # -- processes -------------------------------------------------------------------

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (for ``subprocess.Popen``)."""
        return [IP, "netns", "exec", self.namespace(host), *argv]

    def pids(self, host: str) -> list[int]:
        found = _run(IP, "netns", "pids", self.namespace(host), check=False)
        return [int(p) for p in found.stdout.split()]

    def stop_host(self, host: str) -> int:
        """SIGSTOP every process of ``host``; how many were stopped."""
        return self._signal_all(host, signal.SIGSTOP)

    def continue_host(self, host: str) -> int:
        return self._signal_all(host, signal.SIGCONT)

    def _signal_all(self, host: str, sig: signal.Signals) -> int:
        count = 0
        for pid in self.pids(host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                count += 1
        return count

    # -- network faults --------------------------------------------------------------

    def partition(self, side: Sequence[str], other: Sequence[str]) -> None:
        """Drop every packet between the hosts of ``side`` and those of ``other``."""
        for a in side:
            for b in other:
                if a == b:
                    raise HostsError(f"{a} cannot be on both sides of a partition")
                for src, dst in ((a, b), (b, a)):
                    self._fault(src, ["-A", CHAIN, "-d", self.addresses[dst], "-j", "DROP"])
                    self._fault(src, ["-A", CHAIN, "-s", self.addresses[dst], "-j", "DROP"])

    def isolate(self, host: str) -> None:
        """Cut ``host`` from every other host (its loopback keeps working)."""
        self.partition([host], [h for h in self.names if h != host])

    def lossy(self, host: str, share: float) -> None:
        """Drop a random ``share`` (0..1) of ``host``'s packets on ``eth0``, both ways."""
        if not 0 < share < 1:
            raise HostsError(f"loss share must be in (0, 1), got {share}")
        for way in ("-i", "-o"):
            rule = ["-A", CHAIN, way, "eth0", "-m", "statistic", "--mode", "random",
                    "--probability", f"{share:.4f}", "-j", "DROP"]  # fmt: skip
            self._fault(host, rule)

    def delay(self, host: str, ms: int) -> bool:
        """Delay ``host``'s outgoing packets by ``ms``; False when the kernel cannot."""
        ns = self.namespace(host)
        done = _run(IP, "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root",
                    "netem", "delay", f"{ms}ms", check=False)  # fmt: skip
        return done.returncode == 0

    def heal(self) -> None:
        """Remove every fault: firewall rules and delays."""
        for host in self.names:
            ns = self.namespace(host)
            _run(IP, "netns", "exec", ns, IPTABLES, "-F", CHAIN, check=False)
            _run(IP, "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root",
                 check=False)  # fmt: skip
        self._faults.clear()

    def _fault(self, host: str, rule: list[str]) -> None:
        self._ns(self.namespace(host), IPTABLES, *rule)
        self._faults.append((host, rule))

    @property
    def faults(self) -> list[tuple[str, list[str]]]:
        return list(self._faults)

    # -- teardown --------------------------------------------------------------------

    def close(self) -> None:
        """Kill what runs in the namespaces and delete them (idempotent)."""
        for name in reversed(self._built):
            pids = _run(IP, "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(IP, "netns", "del", name, check=False)
        self._built.clear()
