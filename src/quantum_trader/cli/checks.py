"""Checks the ``quantum`` commands share, done before any work starts.

Each failure is one line that names the option (or setting) and says how to fix it:
option checks raise ``typer.BadParameter`` (exit code 2, shown by the root command as
``error: Invalid value for --json: …``), setting checks raise ``ConfigError``.
"""

from __future__ import annotations

import math
import socket
from pathlib import Path
from urllib.parse import urlsplit

import typer

from quantum_trader.config import ConfigError, mask_url
from quantum_trader.infra.data_dir import dir_problem

REDIS_URL_FORMAT = (
    "write redis://[:PASSWORD@]HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0 "
    "(rediss:// for TLS, unix:///path/to/redis.sock for a socket)"
)


def writable_output(path: Path | None, option_name: str) -> Path | None:
    """``path`` when a file can be written there (``None`` passes through), else
    ``typer.BadParameter`` naming ``option_name`` and the fix.

    Call it before a long run so the run cannot end in an unwritable path. The parent
    directory must exist (nothing is created); an existing file is left untouched, and a
    file created only to prove the path writable is removed again.
    """
    if path is None:
        return None
    if path.is_dir():
        raise typer.BadParameter(
            f"{path} is a directory; give a file name such as {path / 'out.json'}",
            param_hint=option_name,
        )
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise typer.BadParameter(
            f"{path}: directory {parent} {what}; create it first (mkdir -p {parent}) "
            "or pick another path",
            param_hint=option_name,
        )
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path} ({exc.strerror or exc}); pick a writable path",
            param_hint=option_name,
        ) from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def writable_dir(path: Path, name: str) -> Path:
    """Directory ``path``, created if needed and proven writable; else a ``ConfigError``
    naming the setting ``name`` (``QUANTUM_DATA_DIR``) and the fix."""
    problem = dir_problem(path)
    if problem is not None:
        raise ConfigError(
            f"{name}={path}: {problem}; set {name} (or data_dir in the --config file) to "
            "a writable directory"
        )
    return path


def output_dir(path: Path, option_name: str) -> Path:
    """Directory ``path`` for an option such as ``--out``, created if needed and proven
    writable; else ``typer.BadParameter`` naming the option."""
    problem = dir_problem(path)
    if problem is not None:
        raise typer.BadParameter(
            f"{path}: {problem}; give a directory you can write to", param_hint=option_name
        )
    return path


def free_port_or_off(value: int) -> int:
    """Typer callback for ``--metrics-port``: 0, or a loopback port nothing listens on yet
    (refused while parsing, not after the run has started)."""
    return free_loopback_port(value, "no endpoint")


def free_loopback_port(value: int, off: str) -> int:
    """0, or a loopback port free to listen on; else a bad parameter whose fix names
    what 0 means (``off``)."""
    if value:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the server will bind: a port a finished run left in TIME_WAIT is free
            # (a port something listens on is refused all the same).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", value))
            except OSError as exc:
                raise typer.BadParameter(
                    f"port {value} is not free on 127.0.0.1 ({exc.strerror or exc}); pick "
                    f"another port, or 0 for {off}"
                ) from None
    return value


def finite(value: float | None) -> float | None:
    """Typer callback for float options: refuse ``inf`` and ``nan`` (ranges let both by)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number; give a value such as 0.5 or 6")
    return value


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL, or ``None`` when redis-py can use it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "it does not start with redis://, rediss:// or unix://"
    if parts.scheme == "unix":
        return None if parts.path else "a unix:// URL needs the socket path"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "port 0 is not a port"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return f"the database {database!r} is not a number"
    return None


def check_redis_url(url: str | None, name: str = "QUANTUM_REDIS_URL") -> str | None:
    """``url`` unchanged, or a one-line ``ConfigError`` saying what a Redis URL looks like."""
    if url is None:
        return None
    problem = redis_url_problem(url)
    if problem is not None:
        raise ConfigError(
            f"{name}={mask_url(url)!r} is not a Redis URL ({problem}); {REDIS_URL_FORMAT}"
        )
    return url


def unreachable_redis(
    exc: BaseException, url: str | None = None, lead: str = "cannot reach Redis"
) -> str:
    """One line for a Redis that did not answer: where, why, and what to do."""
    reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    where = f" at {mask_url(url)}" if url else ""
    return (
        f"{lead}{where}: {reason}. Fix: start it (`quantum redis start`, or `redis-server`), "
        "or point QUANTUM_REDIS_URL at a running server"
    )
