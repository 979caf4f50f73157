"""Every service as its own OS process, forked from a pre-loaded zygote.

The orchestrator plays the process supervisor: ``start`` / ``kill`` (SIGKILL, nothing
flushed, nothing cleaned up) / ``restart``, and ``reap`` restarts whatever died on its
own. Processes fork from a small zygote process (``python -m
quantum_trader.ops.stepped.processes``) that has already imported the service code and has
no event loop or threads, so a restart costs milliseconds instead of a fresh
interpreter's second of imports; each child is still a separate process with its own
memory, event loop and connections, exactly as under systemd. The zygote ignores SIGCHLD,
so the kernel reaps its children and a dead service's pid simply disappears.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from quantum_trader.ops.service_main import ServiceSetup


def _setup_json(setup: ServiceSetup) -> dict[str, Any]:
    return setup.to_json()


def _setup_from(raw: dict[str, Any]) -> ServiceSetup:
    return ServiceSetup.from_json(raw)


def service_of(name: str) -> str:
    """``apply-layer#2`` (a second process of a service) runs ``apply-layer``."""
    return name.split("#", 1)[0]


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far (user + system, every thread), from
    ``/proc/<pid>/stat``; None when it is gone (or there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after "pid (comm)": state is field 3, utime 14, stime 15 (in clock ticks)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds this process has used (user + system)."""
    times = os.times()
    return times.user + times.system


def run_cpu_seconds(
    procs: ServiceProcesses, redis_server: subprocess.Popen[bytes] | None, own_since: float
) -> dict[str, float]:
    """CPU seconds so far of every service process, of the redis-server and of this
    orchestrating process since ``own_since`` (``own_cpu_s()`` then): in a stepped run it
    is the simulated exchange, its HTTP front and the market feed."""
    used = procs.cpu_seconds()
    if redis_server is not None:
        used["redis-server"] = cpu_seconds(redis_server.pid) or 0.0
    used["orchestrator"] = own_cpu_s() - own_since
    return {name: round(seconds, 3) for name, seconds in used.items()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ServiceProcesses:
    names: Sequence[str]
    setup: ServiceSetup
    starts: dict[str, int] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    paused: dict[str, int] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)  # CPU s of processes it ended
    # Where a service runs: the command prefix its zygote starts under (e.g. ``ip netns
    # exec NS`` for a host of ``ops.hosts``); one zygote per distinct prefix. None: here.
    launcher: Callable[[str], Sequence[str]] | None = None
    _zygotes: dict[tuple[str, ...], subprocess.Popen[str]] = field(default_factory=dict)

    def _fork(self, name: str) -> int:
        prefix = tuple(self.launcher(name)) if self.launcher is not None else ()
        zygote = self._zygotes.get(prefix)
        if zygote is None or zygote.poll() is not None:
            zygote = self._zygotes[prefix] = subprocess.Popen(
                [*prefix, sys.executable, "-m", "quantum_trader.ops.stepped.processes"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        assert zygote.stdin is not None and zygote.stdout is not None
        zygote.stdin.write(json.dumps({"name": name, "setup": _setup_json(self.setup)}) + "\n")
        zygote.stdin.flush()
        return int(zygote.stdout.readline())

    def start(self, name: str) -> None:
        self.pids[name] = self._fork(name)
        self.starts[name] = self.starts.get(name, 0) + 1

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def alive(self, name: str) -> bool:
        pid = self.pids.get(name)
        return pid is not None and _alive(pid)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds per service: its running process's so far, plus what the ones it
        killed had used (a process that died on its own took its count with it)."""
        used = dict(self.spent)
        for name, pid in self.pids.items():
            used[name] = used.get(name, 0.0) + (cpu_seconds(pid) or 0.0)
        return used

    def _spend(self, name: str, pid: int) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + (cpu_seconds(pid) or 0.0)

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        pid = self.pids.pop(name, None)
        if pid is not None and _alive(pid):
            self._spend(name, pid)
            os.kill(pid, signal.SIGKILL)
        self.kills[name] = self.kills.get(name, 0) + 1

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def pause(self, name: str) -> bool:
        """SIGSTOP: the process holds everything it has and does nothing (a VM pause, a
        stop-the-world GC, a debugger); ``resume`` continues it."""
        pid = self.pids.get(name)
        if pid is None or not _alive(pid):
            return False
        os.kill(pid, signal.SIGSTOP)
        self.paused[name] = self.paused.get(name, 0) + 1
        return True

    def resume(self, name: str) -> None:
        pid = self.pids.get(name)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGCONT)

    def stop_extra(self, name: str) -> None:
        """SIGKILL an extra process (``apply-layer#2``); it is not restarted."""
        pid = self.pids.pop(name, None)
        if pid is not None and _alive(pid):
            self._spend(name, pid)
            os.kill(pid, signal.SIGKILL)

    def reap(self) -> list[str]:
        """Restart every service whose process ended on its own; returns their names."""
        died = [n for n, pid in self.pids.items() if not _alive(pid)]
        for name in died:
            self.crashes[name] = self.crashes.get(name, 0) + 1
            self.start(name)
        return died

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """SIGTERM everyone (graceful: batches finish), then SIGKILL what is left."""
        import time

        pids = list(self.pids.values())
        self.pids = {}
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for zygote in self._zygotes.values():
            assert zygote.stdin is not None
            zygote.stdin.close()
            zygote.wait(5)
            if zygote.stdout is not None:
                zygote.stdout.close()
        self._zygotes = {}


def zygote_main(lines: IO[str], out: IO[str]) -> None:
    """Fork one service per request line; answer with the child's pid."""
    from quantum_trader.ops.service_main import service_process

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
    for line in lines:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            setup = _setup_from(request["setup"])
            log_dir = setup.settings.data_dir / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(log_dir / f"{request['name']}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)  # never into the zygote's pid pipe
            os.dup2(fd, 2)
            os.close(fd)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            service_process(service_of(request["name"]), setup)
        out.write(f"{pid}\n")
        out.flush()


if __name__ == "__main__":
    zygote_main(sys.stdin, sys.stdout)
