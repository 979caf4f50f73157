"""What the workers of one study agree on through Redis, beside Optuna's journal.

* **Slots**: ``--trials N`` is N finished trials (complete, pruned or refused). A worker
  takes a slot (``INCR``) before it asks Optuna for a trial and gives it back when the
  trial did not finish (interrupted, or its worker died), so N is met exactly however
  many workers share the study and however they stop.
* **Liveness**: each worker refreshes ``alive:WORKER`` (a key with a TTL) from a thread
  while it works. A running trial whose worker's key has expired was abandoned: the
  first worker to see it (``SET NX`` on ``reaped:NUMBER``) marks it failed, puts its
  parameters back in the queue (Optuna's enqueued trials run before new ones) and
  gives its slot back — so the study completes, and no trial is counted twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

WORKER_TIMEOUT_S = 10.0  # a worker silent this long is dead (--worker-timeout)


class Coordination:
    def __init__(self, url: str, prefix: str, timeout_s: float = WORKER_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ValueError(f"--worker-timeout: must be positive, got {timeout_s}")
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5.0)
        self.prefix = prefix
        self.timeout_ms = int(timeout_s * 1000)
        self.beat_s = timeout_s / 5  # several beats fit in one timeout

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def claim_slot(self, trials: int) -> bool:
        taken = int(self.client.incr(self._key("slots")))
        if taken <= trials:
            return True
        self.client.decr(self._key("slots"))
        return False

    def release_slot(self) -> None:
        self.client.decr(self._key("slots"))

    def slots_taken(self) -> int:
        return int(self.client.get(self._key("slots")) or 0)

    def beat(self, worker: str) -> None:
        self.client.set(self._key(f"alive:{worker}"), "1", px=self.timeout_ms)

    def alive(self, worker: str) -> bool:
        return bool(self.client.exists(self._key(f"alive:{worker}")))

    def first_to_reap(self, number: int) -> bool:
        return bool(self.client.set(self._key(f"reaped:{number}"), "1", nx=True))

    def forget(self, worker: str) -> None:
        self.client.delete(self._key(f"alive:{worker}"))

    @contextmanager
    def heartbeat(self, worker: str) -> Iterator[None]:
        """``worker`` is alive while the block runs (a daemon thread beats for it)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.beat(worker)
                except redis.RedisError:
                    pass  # a missed beat; the TTL allows several
                stop.wait(self.beat_s)

        self.beat(worker)
        thread = threading.Thread(target=loop, name=f"heartbeat-{worker}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=self.beat_s * 2)
            self.forget(worker)

    def close(self) -> None:
        self.client.close()
