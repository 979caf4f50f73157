"""The metric families both exporters share (in-process and from Redis), as Prometheus
scrapes them."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from quantum_trader.observability.families import Histogram, SampleFeed, histogram_family
from quantum_trader.observability.metrics import risk_mode_family, service_families


class Families:
    def __init__(self, *metrics: Metric) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def exposition(*metrics: Metric) -> str:
    registry = CollectorRegistry()
    registry.register(Families(*metrics))
    return generate_latest(registry).decode()


def test_restarts_heartbeats_and_one_series_per_risk_mode() -> None:
    text = exposition(
        *service_families(
            {"apply-layer": 2, "exit-brain": 0},
            {"apply-layer": 0.9, "exit-brain": 12.5},
            {"apply-layer": True},
        ),
        risk_mode_family("REDUCE_ONLY"),
    )
    assert 'quantum_service_restarts_total{service="apply-layer"} 2.0' in text
    assert 'quantum_service_up{service="apply-layer"} 1.0' in text
    assert 'quantum_service_up{service="exit-brain"} 0.0' in text  # no heartbeat
    assert 'quantum_heartbeat_age_seconds{service="exit-brain"} 12.5' in text
    assert 'quantum_risk_mode{mode="REDUCE_ONLY"} 1.0' in text
    assert 'quantum_risk_mode{mode="NORMAL"} 0.0' in text


def test_a_latency_histogram_is_cumulative_in_seconds_whatever_its_window_drops() -> None:
    window: deque[float] = deque(maxlen=3)
    feed = SampleFeed()
    for recorded, ms in enumerate((0.4, 3.0, 40.0, 2000.0), start=1):
        window.append(ms)
        feed.fold(window, recorded, 0.001)
    feed.fold(window, 4, 0.001)  # nothing new: nothing counted twice
    text = exposition(histogram_family("q_seconds", "latency", "kind", {"open": feed.histogram}))
    assert 'q_seconds_bucket{kind="open",le="0.0005"} 1.0' in text
    assert 'q_seconds_bucket{kind="open",le="0.005"} 2.0' in text
    assert 'q_seconds_bucket{kind="open",le="0.05"} 3.0' in text
    assert 'q_seconds_bucket{kind="open",le="+Inf"} 4.0' in text
    assert 'q_seconds_count{kind="open"} 4.0' in text
    assert Histogram().buckets()[-1] == ("+Inf", 0.0)
