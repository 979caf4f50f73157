"""One run per data directory: an exclusive lock that names its holder.

A ``quantum run`` holds ``DATA_DIR/quantum.lock`` (``flock``) for its whole life, so a
second run on the same data directory — which would share its journal and its embedded
redis-server — fails at once with one line naming the holder. The lock file also tells
``quantum status`` and ``quantum kill-switch`` which Redis and key namespace the running
system uses. The kernel releases the lock when the holder dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_NAME = "quantum.lock"


class DataDirError(RuntimeError):
    """The data directory cannot be used; the message is one line meant for a person."""


def dir_problem(path: Path) -> str | None:
    """Create directory ``path`` if needed and prove a file can be written in it; what is
    wrong, or None."""
    if path.exists() and not path.is_dir():
        return "it is a file, not a directory"
    probe = path / ".quantum-write-test"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"cannot create or write to it ({exc.strerror or exc})"
    return None


def prepare(data_dir: Path) -> Path:
    """Create the data directory, or say in one line why it cannot be used."""
    problem = dir_problem(data_dir)
    if problem is not None:
        raise DataDirError(
            f"QUANTUM_DATA_DIR={data_dir}: {problem}; set QUANTUM_DATA_DIR to a writable directory"
        )
    return data_dir


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def hold(data_dir: Path, **about: Any) -> Iterator[dict[str, Any]]:
    """Hold the data directory's lock; ``about`` (command, run id, Redis, namespace) is
    written into the lock file for other commands to read."""
    prepare(data_dir)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        held = _holder(path)
        since = held.get("started_at", "?")
        raise DataDirError(
            f"data directory {data_dir} is in use by `{held.get('command', 'quantum')}` "
            f"(pid {held.get('pid', '?')}, since {since}): wait for it, stop it, or set "
            "QUANTUM_DATA_DIR to another directory"
        ) from None
    info = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **about,
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield info
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def update(data_dir: Path, **about: Any) -> None:
    """Add facts to the lock file this process holds (e.g. the Redis URL once known)."""
    path = data_dir / LOCK_NAME
    info = {**_holder(path), **about}
    path.write_text(json.dumps(info))


def running(data_dir: Path) -> dict[str, Any] | None:
    """What the live holder of the data directory wrote, or None when nobody holds it."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(path)  # held: somebody is running
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def new_run_id() -> str:
    """A run id people can read and sort: UTC start time and the process id."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"
