"""Named fault profiles for the HTTP front: the simulator's order/event faults plus HTTP ones.

A profile combines the in-process ``FaultProfile`` (order rejected / rate-limited /
unknown / executed-but-reply-lost; user-data events dropped or delayed) with faults only
a network front can show: latency, 5xx pages, -1001 internal errors, -1006 "execution
status unknown" after the order *was* placed, bursts of 429s, WebSocket drops and
listen-key expiry. Draws come from one seeded ``random.Random`` so a seed and a sequence
of requests give the same faults.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from quantum_trader.exchange.sim.faults import FaultProfile


@dataclass(frozen=True, slots=True)
class HttpFaultProfile:
    """Probabilities (0..1) per request / per pushed event; ``sim`` holds the core's faults."""

    name: str = "none"
    sim: FaultProfile = field(default_factory=FaultProfile)
    latency_ms: float = 0.0  # every /fapi request waits this long (wall time)
    latency_jitter_ms: float = 0.0  # plus uniform 0..jitter
    server_error: float = 0.0  # 502 HTML page before the request is processed
    internal_error: float = 0.0  # -1001 (HTTP 500) before the request is processed
    status_unknown: float = 0.0  # order endpoints: executed, then -1006 (HTTP 503)
    burst_429: float = 0.0  # chance a request starts a burst of 429s
    burst_len: int = 5
    ws_drop: float = 0.0  # per user-data push: the sockets are dropped first
    listen_key_expiry: float = 0.0  # per user-data push: the listen key expires first

    def describe(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, HttpFaultProfile] = {
    "none": HttpFaultProfile(),
    "flaky": HttpFaultProfile(
        name="flaky",
        sim=FaultProfile(lost_response=0.02, rate_limit=0.01, delay_event=0.02),
        latency_ms=5,
        latency_jitter_ms=25,
        server_error=0.01,
        internal_error=0.01,
        status_unknown=0.01,
        burst_429=0.002,
        ws_drop=0.005,
    ),
    "chaos": HttpFaultProfile(
        name="chaos",
        sim=FaultProfile(
            reject=0.03,
            rate_limit=0.03,
            unknown_before=0.03,
            lost_response=0.05,
            drop_event=0.05,
            delay_event=0.05,
        ),
        latency_ms=10,
        latency_jitter_ms=90,
        server_error=0.03,
        internal_error=0.02,
        status_unknown=0.03,
        burst_429=0.01,
        ws_drop=0.03,
        listen_key_expiry=0.01,
    ),
    # One fault at certainty each: what tests and drills use.
    "lost_response": HttpFaultProfile(name="lost_response", sim=FaultProfile(lost_response=1.0)),
    "unknown_before": HttpFaultProfile(name="unknown_before", sim=FaultProfile(unknown_before=1.0)),
    "overloaded": HttpFaultProfile(name="overloaded", sim=FaultProfile(reject=1.0)),
    "order_rate_limit": HttpFaultProfile(name="order_rate_limit", sim=FaultProfile(rate_limit=1.0)),
    "status_unknown": HttpFaultProfile(name="status_unknown", status_unknown=1.0),
    "server_error": HttpFaultProfile(name="server_error", server_error=1.0),
    "internal_error": HttpFaultProfile(name="internal_error", internal_error=1.0),
    "rate_limit_burst": HttpFaultProfile(name="rate_limit_burst", burst_429=1.0, burst_len=3),
    "drop_events": HttpFaultProfile(name="drop_events", sim=FaultProfile(drop_event=1.0)),
    "delay_events": HttpFaultProfile(name="delay_events", sim=FaultProfile(delay_event=1.0)),
    "ws_drop": HttpFaultProfile(name="ws_drop", ws_drop=1.0),
    "listen_key_expiry": HttpFaultProfile(name="listen_key_expiry", listen_key_expiry=1.0),
}


def profile_named(name: str) -> HttpFaultProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown fault profile {name!r}; choose one of: {known}") from None


def profile_from_json(body: dict[str, Any]) -> HttpFaultProfile:
    """``{"profile": "flaky"}``, or a named base plus overrides (``"ws_drop": 0.1``)."""
    base = profile_named(str(body.get("profile", "none")))
    overrides = {k: v for k, v in body.items() if k not in ("profile", "sim")}
    sim = replace(base.sim, **body["sim"]) if isinstance(body.get("sim"), dict) else base.sim
    try:
        return replace(base, sim=sim, **overrides)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


class HttpFaults:
    """The active profile and its seeded draws."""

    def __init__(self, profile: HttpFaultProfile, seed: int = 0) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self._burst_left = 0

    def chance(self, p: float) -> bool:
        return p > 0 and self._rng.random() < p

    def latency_s(self) -> float:
        p = self.profile
        jitter = self._rng.uniform(0, p.latency_jitter_ms) if p.latency_jitter_ms > 0 else 0.0
        return (p.latency_ms + jitter) / 1000

    def in_burst(self) -> bool:
        """True while a 429 burst lasts; a new one may start on this request."""
        if self._burst_left == 0 and self.chance(self.profile.burst_429):
            self._burst_left = self.profile.burst_len
        if self._burst_left > 0:
            self._burst_left -= 1
            return True
        return False
