"""What systemd binds for a unit's process — an AF_UNIX datagram socket, its path in
``NOTIFY_SOCKET`` — and bounded reads of what the process tells it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """What systemd binds for a unit: an AF_UNIX datagram socket (NOTIFY_SOCKET)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield path, sock
    sock.close()


def next_message(sock: socket.socket, deadline: float) -> str | None:
    """The next datagram, waiting no later than ``deadline`` (None: none came)."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        return sock.recv(4096).decode()
    except TimeoutError:
        return None


def waiting(sock: socket.socket) -> list[str]:
    """Every datagram already sent and not yet read (no wait)."""
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out
