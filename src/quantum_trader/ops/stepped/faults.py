"""What a stepped multi-process run needs of a fault harness — and the run without one.

The orchestrator (``stepped.run``) calls these hooks around every bar; ``quantum run
--processes`` passes :class:`NoFaults`, ``quantum chaos`` its injector. What the faults
did that the audit must know (garbage published, positions touched by hand, evidence a
state loss would have taken with it, the windows in which entries had to halt) is read
from the same object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Plan
from quantum_trader.data.symbols import SymbolSpec
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.stepped.processes import ServiceProcesses
from quantum_trader.runtime.safety_state import SafetyStore


@dataclass
class RunConfig:
    """One stepped multi-process run: its market and the settle bounds."""

    symbols: tuple[str, ...]
    hours: float = 2.0
    seed: int = 7
    data_dir: Path | None = None
    settle_timeout_s: float = 10.0
    reconcile_wait_s: float = 3.0  # at most this long for a fresh reconcile round per bar
    hung_after_s: float = 6.0
    key_prefix: str = "quantum:"
    # A universe of its own (e.g. ``exchange.sim.scale_universe``): the generator's specs
    # and the venue's instruments for ``symbols``; None: the built-in ones.
    specs: Mapping[str, SymbolSpec] | None = None
    instruments: Mapping[str, Instrument] | None = None


@dataclass
class Kept:
    """Evidence that lived only in Redis, saved before a fault took it (a state loss)."""

    plans: list[Plan] = field(default_factory=list)
    results: list[ApplyResult] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    exit_reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultContext:
    """The running system, as a fault harness may act on it."""

    redis: aioredis.Redis
    redis_server: EmbeddedRedis
    procs: ServiceProcesses
    session: aiohttp.ClientSession
    admin_url: str
    bus: Bus
    sim: SimExchange
    clock_key: str
    store: SafetyStore
    requests: Callable[[], list[dict[str, Any]]]  # the exchange front's request log
    liveness_s: float  # the services' heartbeat TTL
    traded_bars: int


class Faults(Protocol):
    @property
    def garbage(self) -> list[tuple[str, str]]: ...  # (stream, entry id) published malformed

    @property
    def hand(self) -> list[tuple[str, int]]: ...  # (symbol, exchange ts) touched by hand

    @property
    def kept(self) -> Kept: ...

    @property
    def halts(self) -> list[tuple[int, int]]: ...  # (state lost, confirmed): entries halt

    async def before_bar(self, bar: int) -> None: ...

    async def during_bar(self) -> None: ...

    def strike(self) -> bool: ...

    def holding(self) -> bool: ...

    async def finish(self) -> None: ...

    def counts(self) -> dict[str, int]: ...

    def struck(self) -> dict[str, int]: ...


@dataclass
class NoFaults:
    """A run nothing is done to."""

    garbage: list[tuple[str, str]] = field(default_factory=list)
    hand: list[tuple[str, int]] = field(default_factory=list)
    kept: Kept = field(default_factory=Kept)
    halts: list[tuple[int, int]] = field(default_factory=list)

    async def before_bar(self, bar: int) -> None:
        return None

    async def during_bar(self) -> None:
        await asyncio.sleep(0)

    def strike(self) -> bool:
        return False

    def holding(self) -> bool:
        return False

    async def finish(self) -> None:
        return None

    def counts(self) -> dict[str, int]:
        return {}

    def struck(self) -> dict[str, int]:
        return {}


FaultsFactory = Callable[[FaultContext], Faults]


def merged(kept: list[Any], now: list[Any]) -> list[Any]:
    """The evidence from before the faults and after, each message once."""
    seen: set[str] = set()
    out = []
    for m in [*kept, *now]:
        if m.msg_id not in seen:
            seen.add(m.msg_id)
            out.append(m)
    return out
