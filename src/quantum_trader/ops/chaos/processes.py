"""Every service as its own OS process, started from a pre-loaded fork server.

The orchestrator plays the process supervisor: ``start`` / ``kill`` (SIGKILL, nothing
flushed, nothing cleaned up) / ``restart``, and ``reap`` restarts whatever died on its
own. Processes fork from a ``multiprocessing`` fork server that has already imported the
service code, so a restart costs milliseconds instead of a fresh interpreter's second of
imports; each child is still a separate process with its own memory, event loop and
connections, exactly as under systemd.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from quantum_trader.ops.service_main import ServiceSetup, service_process


@dataclass
class ServiceProcesses:
    names: Sequence[str]
    setup: ServiceSetup
    starts: dict[str, int] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    _procs: dict[str, BaseProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["quantum_trader.ops.service_main"])

    def start(self, name: str) -> None:
        proc = self._ctx.Process(
            target=service_process, args=(name, self.setup), name=f"quantum-{name}", daemon=True
        )
        proc.start()
        self._procs[name] = proc
        self.starts[name] = self.starts.get(name, 0) + 1

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def pid(self, name: str) -> int | None:
        proc = self._procs.get(name)
        return proc.pid if proc is not None else None

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.is_alive()

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        proc = self._procs.get(name)
        if proc is not None and proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(5)
        self.kills[name] = self.kills.get(name, 0) + 1

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def reap(self) -> list[str]:
        """Restart every service whose process ended on its own; returns their names."""
        died = [n for n, p in self._procs.items() if not p.is_alive()]
        for name in died:
            self._procs[name].join(0)
            self.crashes[name] = self.crashes.get(name, 0) + 1
            self.start(name)
        return died

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """SIGTERM everyone (graceful: batches finish), then SIGKILL what is left."""
        for proc in self._procs.values():
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self._procs.values():
            proc.join(timeout_s)
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(2)
