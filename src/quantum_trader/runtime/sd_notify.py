"""systemd's notify protocol, spoken by a service process to the unit that runs it.

A ``Type=notify`` unit is "started" only once its process says ``READY=1``; with
``WatchdogSec=`` it is killed and restarted when ``WATCHDOG=1`` stops arriving; it
shows ``STATUS=…`` in ``systemctl status``; ``STOPPING=1`` says a shutdown has begun.
Each message is one datagram of newline-separated ``KEY=VALUE`` assignments sent to the
AF_UNIX socket systemd names in ``NOTIFY_SOCKET`` — a path, or an abstract-namespace
address written with a leading ``@`` (sent as a NUL byte). systemd learns the sender's
pid from the kernel (``SO_PASSCRED``), so ``NotifyAccess=main`` accepts only the unit's
main process. This is the whole of ``sd_notify(3)`` a service needs; it takes the socket
and the watchdog interval from the settings (``notify_socket``, ``watchdog_usec``), which
read them under systemd's own names. Without a socket every call is a no-op, so the
same process runs under systemd, in a container or in a terminal.

A notification that cannot be sent (systemd restarting, a full socket buffer) is
dropped, never raised: the service's work matters more than its report, and a watchdog
ping is repeated several times per interval.
"""

from __future__ import annotations

import contextlib
import socket


def socket_address(path: str) -> str:
    """The address to send to: ``@name`` is the abstract namespace (a leading NUL)."""
    return "\0" + path[1:] if path.startswith("@") else path


class SystemdNotify:
    """The notify socket of this process's unit (``socket_path`` None: no unit)."""

    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        self.socket_path = socket_path or None
        self.watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self.sent = 0  # datagrams delivered to the socket (for a status line, and tests)

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    @property
    def watchdog_s(self) -> float | None:
        """The unit's watchdog timeout in seconds (None: no watchdog)."""
        if not self.enabled or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 1_000_000

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; True when it reached the socket."""
        if self.socket_path is None or not assignments:
            return False
        payload = "\n".join(a.replace("\n", " ") for a in assignments).encode()
        try:
            if self._socket is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)  # a full receive buffer drops, never stalls a loop
                self._socket = sock
            self._socket.sendto(payload, socket_address(self.socket_path))
        except OSError:
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service's loops run: the unit is started (and its watchdog armed)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Still alive: fed from the service's own loop, so a hung loop stops feeding it.
        Nothing is sent when the unit has no watchdog."""
        if self.watchdog_s is None:
            return False
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
