"""One service process's own ``/metrics`` and ``/health``: whether its loops run, its
consumers' counters, and a port that cannot be bound costing the service nothing."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import aiohttp

from quantum_trader.bus.keys import Keys
from quantum_trader.clock import SimClock
from quantum_trader.observability.service_metrics import ServiceCollector, serve_service_metrics
from quantum_trader.services.runtime import MemoryHealthWriter, ServiceRuntime
from tests.unit.observability.exposition import samples

T0 = 1_700_000_000_000


def runtime(status: str) -> ServiceRuntime:
    r = ServiceRuntime("exit-brain", SimClock(T0), Keys(), MemoryHealthWriter())
    r.status = status
    return r


def parts() -> Any:
    return SimpleNamespace(apply_layers=[])


def test_a_running_service_is_healthy_and_a_starting_one_is_not() -> None:
    running = ServiceCollector("exit-brain", runtime("running"), parts())
    body, ok = running.health()
    assert ok and body["status"] == "running" and body["stalled"] == []
    seen = samples(running.collect())
    assert seen['quantum_service_running{service="exit-brain"}'] == 1
    assert seen['quantum_build_info{service="exit-brain",version="0.1.0"}'] == 1
    assert seen['quantum_order_outcomes_total{outcome="accepted"}'] >= 0
    starting = ServiceCollector("exit-brain", runtime("starting"), parts())
    assert starting.health()[1] is False
    assert samples(starting.collect())['quantum_service_running{service="exit-brain"}'] == 0


async def test_a_port_in_use_leaves_the_service_without_metrics_not_dead(capsys: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = await serve_service_metrics(
            "exit-brain", runtime("running"), parts(), "127.0.0.1", port
        )
        assert served is None
    assert "cannot serve /metrics" in capsys.readouterr().out
    assert (
        await serve_service_metrics("exit-brain", runtime("running"), parts(), "127.0.0.1", 0)
        is None
    )


async def test_health_answers_over_http() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = await serve_service_metrics(
        "exit-brain", runtime("stalled"), parts(), "127.0.0.1", port
    )
    assert served is not None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as reply:
                assert reply.status == 503 and (await reply.json())["status"] == "stalled"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                assert "process_resident_memory_bytes" in await reply.text()
    finally:
        await served.cleanup()
