"""Move the calling thread into a host's network namespace (``setns(2)``), and back.

The orchestrator of a multi-host run lives on one of the hosts (the simulated exchange's):
every socket it opens afterwards — the exchange's HTTP front, its Redis clients, its
questions to the Sentinels — is that host's, reachable and partitioned as that host is.
Threads started later from this thread inherit the namespace (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """This thread in ``/run/netns/<namespace>`` for the block; back where it was after."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)
