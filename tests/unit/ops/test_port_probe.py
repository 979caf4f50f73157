"""``--metrics-port`` refuses a port something listens on, not one a finished run left in
TIME_WAIT (the metrics server binds with SO_REUSEADDR, so the probe does too)."""

from __future__ import annotations

import socket

import pytest
import typer

from quantum_trader.cli.checks import free_port_or_off


def _time_wait_port() -> int:
    """A loopback port whose last connection the server side closed first."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = int(server.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: it holds TIME_WAIT
    client.recv(1)
    client.close()
    server.close()
    return port


def test_a_port_in_time_wait_is_free_and_a_listening_one_is_not() -> None:
    port = _time_wait_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the old probe met
    assert free_port_or_off(port) == port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        busy = int(listener.getsockname()[1])
        with pytest.raises(typer.BadParameter, match=f"port {busy} is not free"):
            free_port_or_off(busy)
    assert free_port_or_off(0) == 0
