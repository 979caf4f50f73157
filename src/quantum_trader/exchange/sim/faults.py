"""Seeded fault injection for the simulated exchange: what a real venue does to clients.

A ``FaultProfile`` holds probabilities; a ``FaultPlan`` draws from its own
``random.Random(seed)`` so that one seed and one sequence of calls give the same faults.
The profile can be swapped at runtime (calm → storm → calm) without reseeding. Draws are
made only for faults with a non-zero probability, so a calm profile consumes no
randomness and leaves the market's own seeded behaviour untouched.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

_T = TypeVar("_T")


class OrderFault(StrEnum):
    """What happens to one order request (create or cancel)."""

    NONE = "NONE"
    REJECT = "REJECT"  # venue refuses: OrderRejected(-1008), nothing placed
    RATE_LIMIT = "RATE_LIMIT"  # 429 before sending: RetryableError, nothing placed
    UNKNOWN_BEFORE = "UNKNOWN_BEFORE"  # timeout, request never arrived: OrderOutcomeUnknown
    LOST_RESPONSE = "LOST_RESPONSE"  # request executed, reply lost: OrderOutcomeUnknown


class EventFate(StrEnum):
    DELIVER = "DELIVER"
    DROP = "DROP"
    DELAY = "DELAY"


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Probabilities (0..1) and sizes of each fault; the default injects nothing."""

    latency_s: float = 0.0  # fixed delay of every call, awaited on the injected Clock
    latency_jitter_s: float = 0.0  # plus uniform 0..jitter
    reject: float = 0.0
    rate_limit: float = 0.0
    unknown_before: float = 0.0
    lost_response: float = 0.0
    drop_event: float = 0.0
    delay_event: float = 0.0
    event_delay_s: float = 1.0  # how late a delayed execution event arrives

    def __post_init__(self) -> None:
        chances = (
            self.reject,
            self.rate_limit,
            self.unknown_before,
            self.lost_response,
            self.drop_event,
            self.delay_event,
        )
        if any(not 0.0 <= p <= 1.0 for p in chances):
            raise ValueError("fault probabilities must lie in [0, 1]")
        if self.reject + self.rate_limit + self.unknown_before + self.lost_response > 1.0:
            raise ValueError("order fault probabilities must sum to at most 1")
        if self.drop_event + self.delay_event > 1.0:
            raise ValueError("event fault probabilities must sum to at most 1")


CALM = FaultProfile()


class FaultPlan:
    """Draws faults from a seeded generator under a switchable profile."""

    def __init__(self, profile: FaultProfile = CALM, seed: int = 0) -> None:
        self.profile = profile
        self._rng = random.Random(seed)

    def switch(self, profile: FaultProfile) -> None:
        """Change the fault profile from now on (the random stream continues)."""
        self.profile = profile

    def latency_s(self) -> float:
        profile = self.profile
        if profile.latency_jitter_s > 0:
            return profile.latency_s + self._rng.uniform(0.0, profile.latency_jitter_s)
        return profile.latency_s

    def order_fault(self) -> OrderFault:
        profile = self.profile
        table = (
            (OrderFault.REJECT, profile.reject),
            (OrderFault.RATE_LIMIT, profile.rate_limit),
            (OrderFault.UNKNOWN_BEFORE, profile.unknown_before),
            (OrderFault.LOST_RESPONSE, profile.lost_response),
        )
        return self._pick(table, OrderFault.NONE)

    def event_fate(self) -> EventFate:
        profile = self.profile
        table = ((EventFate.DROP, profile.drop_event), (EventFate.DELAY, profile.delay_event))
        return self._pick(table, EventFate.DELIVER)

    def _pick(self, table: tuple[tuple[_T, float], ...], default: _T) -> _T:
        if not any(p > 0 for _, p in table):
            return default
        draw = self._rng.random()
        for outcome, chance in table:
            if draw < chance:
                return outcome
            draw -= chance
        return default
