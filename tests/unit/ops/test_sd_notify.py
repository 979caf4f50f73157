"""systemd's notify protocol against a real AF_UNIX datagram socket the test binds, as
systemd's would be: a path, or an abstract address written with '@'."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantum_trader.runtime.sd_notify import SystemdNotify, socket_address


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)  # a bounded wait for a datagram already sent
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def nothing_waiting(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)
    return False


def test_ready_watchdog_status_and_stopping_arrive_as_systemd_reads_them(
    systemd_socket: tuple[str, socket.socket],
) -> None:
    path, sock = systemd_socket
    unit = SystemdNotify(path, watchdog_usec=3_000_000)
    assert unit.enabled and unit.watchdog_s == 3.0
    assert unit.ready("apply-layer: running")
    assert received(sock) == "READY=1\nSTATUS=apply-layer: running"
    assert unit.watchdog()
    assert received(sock) == "WATCHDOG=1"
    assert unit.status("reconciling\nagain")  # one assignment per line: no line breaks
    assert received(sock) == "STATUS=reconciling again"
    assert unit.stopping()
    assert received(sock) == "STOPPING=1"
    assert unit.sent == 4
    unit.close()


def test_without_a_watchdog_no_watchdog_message_is_sent(
    systemd_socket: tuple[str, socket.socket],
) -> None:
    path, sock = systemd_socket
    unit = SystemdNotify(path, watchdog_usec=None)
    assert unit.watchdog_s is None
    assert not unit.watchdog()
    assert unit.ready()
    assert received(sock) == "READY=1"
    assert nothing_waiting(sock)
    unit.close()


def test_an_abstract_address_is_the_name_after_a_nul_byte() -> None:
    name = f"quantum-test-{os.getpid()}"
    assert socket_address(f"@{name}") == f"\0{name}"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(f"\0{name}")
    sock.settimeout(5)
    unit = SystemdNotify(f"@{name}")
    try:
        assert unit.ready()
        assert received(sock) == "READY=1"
    finally:
        unit.close()
        sock.close()


def test_no_socket_is_a_no_op_and_a_vanished_one_is_not_an_error(tmp_path: Path) -> None:
    unit = SystemdNotify(None, watchdog_usec=1_000_000)
    assert not unit.enabled and unit.watchdog_s is None
    assert not unit.ready() and not unit.watchdog() and not unit.stopping()
    gone = SystemdNotify(str(tmp_path / "no-such-socket"), watchdog_usec=1_000_000)
    assert gone.enabled
    assert not gone.ready() and not gone.watchdog()  # dropped, never raised
    assert gone.sent == 0
    gone.close()
