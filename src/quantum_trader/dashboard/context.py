"""What one dashboard reads and acts on: the Redis and namespace of one system, the
system's clock, its settings, instruments and trade journal.

The clock is the system's own (a paper run's market clock when the dashboard runs
inside ``quantum run``; the wall clock against a live system): an entry pause ends at a
time on it, as a cooldown does, and exit plans are stamped with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.clock import Clock, steady_clock
from quantum_trader.config import Settings
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.sim.universe import default_universe
from quantum_trader.services.journal import Journal


@dataclass
class DashboardContext:
    settings: Settings
    redis: aioredis.Redis
    keys: Keys  # the namespace shown and acted on
    clock: Clock  # the system's clock
    # every namespace the kill switch is thrown in (the operator's and a running paper
    # run's, as `quantum kill-switch` does); default: the one shown
    control: tuple[Keys, ...] = ()
    run_id: str | None = None  # the journal rows shown (None: every run's)
    instruments: Mapping[str, Instrument] = field(default_factory=default_universe)
    steady: Clock = field(default_factory=steady_clock)  # login limits, ages of beats
    label: str = ""  # what the header says this is ("paper run …", "operator's system")
    _journal: Journal | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.control:
            self.control = (self.keys,)

    @property
    def journal_path(self) -> Path:
        return self.settings.data_dir / "journal.sqlite"

    def now(self) -> int:
        """The system's time now (ms)."""
        return self.clock.now_ms()

    async def journal(self) -> Journal | None:
        """The trade journal, opened once; None while no run has written one."""
        if self._journal is None:
            if not self.journal_path.exists():
                return None
            url = f"sqlite:///{self.journal_path}"
            self._journal = await asyncio.to_thread(Journal, url, self.run_id)
        return self._journal

    async def in_journal(self, read: Any, *args: Any) -> Any:
        """``read(journal, *args)`` in a worker thread (SQLAlchemy is synchronous); None
        without a journal."""
        journal = await self.journal()
        if journal is None:
            return None
        return await asyncio.to_thread(read, journal, *args)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
