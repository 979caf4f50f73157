"""Which Redis and key namespace a command talks to.

Redis: ``QUANTUM_REDIS_URL``, else the embedded server recorded in the data directory
(by ``quantum redis start`` or a running ``quantum run``). Namespace: the configured
prefix (the operator's system), and — while a paper run holds the data directory — that
run's own namespace ``{prefix}run-{id}:``, which ``quantum status`` shows and
``quantum kill-switch`` also switches.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.config import Settings, mask_url
from quantum_trader.infra import data_dir
from quantum_trader.infra.embedded_redis import read_state
from quantum_trader.infra.redis_connect import sentinel_url, uses_sentinel


class NoRedis(RuntimeError):
    """No Redis to talk to; the message says how to get one."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    prefix: str  # the configured (operator's) namespace
    run_prefix: str | None = None  # a running paper run's own namespace on that Redis
    run_id: str | None = None

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix,) if self.run_prefix is None else (self.prefix, self.run_prefix)

    @property
    def shown_prefix(self) -> str:
        """What `quantum status` shows: the running paper run, else the operator's."""
        return self.run_prefix or self.prefix


def resolve_redis_url(settings: Settings) -> str:
    """The URL of the configured Redis; with sentinels, ``redis_url`` if set (it carries
    the primary's credentials), else the sentinels' label (``redis_connect.sentinel_url``).
    Connections are made by ``redis_connect.master_client``, which follows Sentinel."""
    if settings.redis_url:
        return settings.redis_url
    if uses_sentinel(settings):
        return sentinel_url(settings)
    state = read_state(settings.data_dir / "redis")
    if state is not None:
        return str(state["url"])
    raise NoRedis(
        "no Redis: set QUANTUM_REDIS_URL, or start one with `quantum redis start` "
        "(or run the system with `quantum run`)"
    )


def resolve_target(settings: Settings) -> Target:
    run = data_dir.running(settings.data_dir)
    if run is not None and not settings.redis_url and run.get("redis_url"):
        url = str(run["redis_url"])  # an embedded server: no credentials to mask
    else:
        url = resolve_redis_url(settings)
    if run is not None:
        prefix = str(run.get("key_prefix", ""))
        same_redis = run.get("redis_url") == mask_url(url)
        if same_redis and prefix.startswith(f"{settings.key_prefix}run-"):
            return Target(url, settings.key_prefix, prefix, str(run.get("run_id", "")))
    return Target(url, settings.key_prefix)
