"""Metric families every exporter shares, named once: the in-process run, the ``metrics``
service (what lives in Redis and on the exchange) and each service process build their
``/metrics`` from these, so one dashboard and one set of alert rules read them all.

Names follow Prometheus' conventions: base units (seconds, USDT as the account's unit,
ratios as fractions), ``_total`` on counters, and label sets bounded by the system's
own vocabulary (services, streams, groups, reasons, the traded symbols).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from quantum_trader import __version__
from quantum_trader.services.order_router import OrderOutcomes

# Seconds, from half a millisecond (an order on a quiet exchange) to a minute.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
RISK_MODES = ("NORMAL", "REDUCE_ONLY", "HALT")
EXECUTED = "executed"  # the apply layer's outcome of a plan carried out (exported from 0)


@dataclass
class Histogram:
    """A cumulative histogram: bucket counts only grow (what Prometheus expects)."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observed: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.observed += 1

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


@dataclass
class SampleFeed:
    """Folds a bounded window of samples (a deque that drops its oldest) into a
    cumulative histogram: ``seen`` is how many of the ``recorded`` samples are in."""

    histogram: Histogram = field(default_factory=Histogram)
    seen: int = 0

    def fold(self, window: Iterable[float], recorded: int, scale: float = 1.0) -> None:
        values = list(window)
        fresh = min(recorded - self.seen, len(values))
        for value in values[len(values) - fresh :] if fresh > 0 else ():
            self.histogram.observe(value * scale)
        self.seen = recorded


def histogram_family(
    name: str, doc: str, label: str, histograms: Mapping[str, Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for value, histogram in sorted(histograms.items()):
        family.add_metric([value] if label else [], histogram.buckets(), histogram.total)
    return family


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def labelled_gauge(
    name: str, doc: str, label: str, values: Mapping[str, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def build_info(service: str) -> Metric:
    info = GaugeMetricFamily(
        "quantum_build_info", "1: this version runs", labels=["version", "service"]
    )
    info.add_metric([__version__, service], 1.0)
    return info


def service_families(
    restarts: Mapping[str, int], ages_s: Mapping[str, float], up: Mapping[str, bool]
) -> Iterator[Metric]:
    """Per service: restarts, whether it beats (running), and the age of its last beat."""
    counted = CounterMetricFamily(
        "quantum_service_restarts", "Service restarts", labels=["service"]
    )
    alive = GaugeMetricFamily(
        "quantum_service_up",
        "1: the service's heartbeat is present and running",
        labels=["service"],
    )
    age = GaugeMetricFamily(
        "quantum_heartbeat_age_seconds",
        "Seconds since the service's last heartbeat (since the exporter started, if none yet)",
        labels=["service"],
    )
    for name in sorted(set(restarts) | set(ages_s)):
        counted.add_metric([name], restarts.get(name, 0))
        alive.add_metric([name], 1.0 if up.get(name) else 0.0)
        age.add_metric([name], ages_s.get(name, 0.0))
    yield counted
    yield alive
    yield age


def message_families(counts: Mapping[str, Mapping[str, int]]) -> Iterator[Metric]:
    """Messages processed, failed and dead-lettered per service (``counts[service]``)."""
    for counter in ("processed", "failed", "dead_lettered"):
        family = CounterMetricFamily(
            f"quantum_messages_{counter}", f"Messages {counter} per service", labels=["service"]
        )
        for name, values in sorted(counts.items()):
            family.add_metric([name], values.get(counter, 0))
        yield family


def risk_mode_family(current: object) -> Metric:
    """One series per risk mode: 1 for the current one."""
    mode = GaugeMetricFamily("quantum_risk_mode", "1 for the current risk mode", labels=["mode"])
    for m in RISK_MODES:
        mode.add_metric([m], 1.0 if current == m else 0.0)
    return mode


def order_families(outcomes: OrderOutcomes) -> Iterator[Metric]:
    """What the exchange answered this process's orders, and what is still unknown."""
    family = CounterMetricFamily(
        "quantum_order_outcomes",
        "Order requests by the exchange's answer: accepted, rejected, or unknown at first",
        labels=["outcome"],
    )
    family.add_metric(["accepted"], outcomes.accepted)
    family.add_metric(["rejected"], sum(outcomes.rejected.values()))
    family.add_metric(["unknown"], outcomes.unknown)
    yield family
    codes = CounterMetricFamily(
        "quantum_order_rejections", "Order requests rejected, by Binance code", labels=["code"]
    )
    for code, count in sorted(outcomes.rejected.items()):
        codes.add_metric([str(code)], count)
    yield codes
    yield gauge(
        "quantum_orders_outcome_unknown",
        "Orders whose fate the exchange has not told yet (looked up until it does)",
        len(outcomes.unresolved),
    )


def plan_families(
    decisions: Mapping[str, int], latency: Mapping[str, Histogram]
) -> Iterator[Metric]:
    """The apply layer's outcomes by reason and its plan → order latency by plan kind."""
    outcomes = CounterMetricFamily(
        "quantum_plan_outcomes", "Apply-layer outcomes by reason", labels=["reason"]
    )
    for reason, count in sorted({EXECUTED: 0, **decisions}.items()):
        outcomes.add_metric([reason], count)
    yield outcomes
    yield histogram_family(
        "quantum_plan_to_order_seconds",
        "Plan taken by the apply layer → the exchange's answer to its order",
        "kind",
        latency,
    )


async def model_state(redis: Any, keys: Any) -> dict[str, Any]:
    """The signal engine's ``model:state`` (empty without the model strategy)."""
    try:
        raw = await redis.get(keys.model_state)
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def model_metrics(state: Mapping[str, Any], psi_limit: float | None = None) -> Iterator[Metric]:
    """The model in service: which one, its drift scores, and whether its entries stopped."""
    if psi_limit is not None:
        yield gauge("quantum_model_psi_limit", "A feature PSI above this has drifted", psi_limit)
    if not state:
        return
    model = [str(state.get("model_id", ""))]
    info = GaugeMetricFamily("quantum_model_info", "1: the model in service", labels=["model"])
    info.add_metric(model, 1.0)
    yield info
    for name, key, text in (
        ("quantum_model_max_psi", "max_psi", "Largest feature PSI against training"),
        ("quantum_model_hit_rate", "hit_rate", "Live hit rate of the model's sign"),
        ("quantum_model_expected_hit_rate", "expected_hit_rate", "Out-of-sample hit rate"),
    ):
        value = state.get(key)
        if isinstance(value, int | float):
            family = GaugeMetricFamily(name, text, labels=["model"])
            family.add_metric(model, float(value))
            yield family
    for name, key, text in (
        ("quantum_model_entries_stopped", "entries_stopped", "1: the model drifted or decayed"),
        ("quantum_model_drift", "drift", "1: the live features drifted from training"),
        ("quantum_model_decay", "decay", "1: the live hit rate decayed below expectation"),
    ):
        family = GaugeMetricFamily(name, text, labels=["model"])
        family.add_metric(model, 1.0 if state.get(key) else 0.0)
        yield family
