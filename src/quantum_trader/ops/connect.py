"""Which Redis a command talks to: ``QUANTUM_REDIS_URL``, else the embedded server that
``quantum redis start`` (or a running ``quantum run``) recorded in the data directory."""

from __future__ import annotations

from quantum_trader.config import Settings
from quantum_trader.ops.embedded_redis import read_state


class NoRedis(RuntimeError):
    """No Redis to talk to; the message says how to get one."""


def resolve_redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    state = read_state(settings.data_dir / "redis")
    if state is not None:
        return str(state["url"])
    raise NoRedis(
        "no Redis: set QUANTUM_REDIS_URL, or start one with `quantum redis start` "
        "(or run the system with `quantum run`)"
    )
