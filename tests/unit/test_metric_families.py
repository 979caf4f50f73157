"""The metric families both exporters share (in-process and from Redis), as Prometheus
scrapes them."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from quantum_trader.observability.metrics import risk_mode_family, service_families


class Families:
    def collect(self) -> Iterator[Metric]:
        yield from service_families({"apply-layer": 2, "exit-brain": 0}, {"apply-layer": 900})
        yield risk_mode_family("REDUCE_ONLY")


def test_restarts_heartbeats_and_one_series_per_risk_mode() -> None:
    registry = CollectorRegistry()
    registry.register(Families())
    text = generate_latest(registry).decode()
    assert 'quantum_service_restarts_total{service="apply-layer"} 2.0' in text
    assert 'quantum_heartbeat_ttl_ms{service="apply-layer"} 900.0' in text
    assert 'quantum_heartbeat_ttl_ms{service="exit-brain"} -2.0' in text  # no heartbeat
    assert 'quantum_risk_mode{mode="REDUCE_ONLY"} 1.0' in text
    assert 'quantum_risk_mode{mode="NORMAL"} 0.0' in text
