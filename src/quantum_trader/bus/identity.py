"""Who a process is on the bus: a consumer name no other process can have.

Two processes sharing a consumer name share one pending list, so each would finish the
other's deliveries (two executors, one plan). Every consumer name therefore ends in the
process's identity — host, pid and start time — unique across hosts and restarts.
"""

from __future__ import annotations

import os
import socket
import time

_identity: tuple[int, str] | None = None


def process_identity() -> str:
    """``host-pid-startms`` of this process (a forked child gets its own)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        host = socket.gethostname().split(".")[0] or "host"
        # the wall clock names the process (a restart with a reused pid differs); it
        # decides nothing
        started = time.time_ns() // 1_000_000
        _identity = (pid, f"{host}-{pid}-{started}")
    return _identity[1]


def consumer_name(service: str) -> str:
    """The consumer name of ``service`` in this process."""
    return f"{service}-{process_identity()}"
