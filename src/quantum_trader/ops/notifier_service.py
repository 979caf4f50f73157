"""``quantum service notifier``: the notifier as its own process.

It reads the fills and events streams and every service's heartbeat from Redis
(``QUANTUM_REDIS_URL``), the trade journal from the data directory, and posts to the
webhooks of ``notify.targets``; it needs no exchange and places nothing. Without a
target it has nothing to do and says so (exit 2). A loop that ends on its own exits 1,
so whatever runs the process restarts it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from quantum_trader.alerting.notify_service import NAME, build_notifier
from quantum_trader.bootstrap import consumer_config
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import Clock, SystemClock
from quantum_trader.config import Settings
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.ops.service_run import run_loops, systemd_notify
from quantum_trader.runtime.follow_clock import FollowClock
from quantum_trader.services.journal import Journal


async def run_notifier_service(
    settings: Settings, services: Sequence[str], run_id: str = "", follow_clock: str | None = None
) -> int:
    """Run until SIGTERM / SIGINT: 0 then, 1 when a loop died, 2 without targets.
    ``settings.redis_url`` is the resolved one."""
    assert settings.redis_url, "the notifier needs a resolved redis_url"
    if not settings.notify.targets:
        print(f"{NAME}: no notify.targets configured: nothing to send", flush=True)
        return 2
    redis = master_client(settings)
    clock: Clock = SystemClock()
    follower = None
    if follow_clock:
        follower = FollowClock(redis, follow_clock, NAME)
        await follower.start()
        clock = follower
    journal = _journal(settings, run_id)
    try:
        bus = Bus(RedisTransport(redis), clock, Keys(settings.key_prefix), settings.stream_maxlen)
        runtime, _ = build_notifier(
            settings.notify,
            bus=bus,
            redis=redis,
            services=services,
            journal=journal,
            heartbeat_interval_s=settings.heartbeat_interval_ms / 1000,
            heartbeat_ttl_ms=settings.heartbeat_ttl_ms,
            config=consumer_config(settings),
        )
        runtime.install_signal_handlers()
        return await run_loops(runtime, NAME, systemd_notify(settings))
    finally:
        if follower is not None:
            with contextlib.suppress(Exception):
                await follower.stop()
        with contextlib.suppress(Exception):
            await redis.aclose()
        journal.close()


def _journal(settings: Settings, run_id: str) -> Journal:
    """The data directory's journal (the daily summary's closed positions)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "journal.sqlite"
    try:
        return Journal(f"sqlite:///{path}", run_id=run_id)
    except OperationalError:  # another process created the tables at the same moment
        return Journal(f"sqlite:///{path}", run_id=run_id)
