"""The notifier beside a paper run's services: started only when targets are configured,
and whatever it or its targets do — a webhook that hangs, one that answers 503, a port
nobody listens on, a notifier that cannot even start — the run trades exactly as it
does without one."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.alerting.notify_service import NotifierConsumer
from quantum_trader.config import load_settings
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig
from quantum_trader.ops.run_summary import RunSummary
from tests.integration.alerting.webhooks import Reply, Webhooks

pytestmark = pytest.mark.integration
RUN = PaperRunConfig(symbols=("BTCUSDT", "ETHUSDT"), hours=0.5, seed=7)


@pytest.fixture
async def hooks() -> AsyncIterator[Webhooks]:
    server = await Webhooks().start()
    server.always["/hang"] = Reply(hang=True)
    server.always["/down"] = Reply(503, body="busy")
    try:
        yield server
    finally:
        await server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def paper(
    tmp_path: Path, redis: EmbeddedRedis, targets: dict[str, Any]
) -> tuple[RunSummary, PaperRun]:
    settings = load_settings(
        data_dir=tmp_path / f"var{len(list(tmp_path.iterdir()))}",
        redis_url=redis.url,
        notify={"targets": targets, "backoff_s": 0.05},
    )
    run = PaperRun(settings, RUN)
    return await run.run(), run


def trades(summary: RunSummary) -> list[Any]:
    return [{k: v for k, v in t.items() if k != "run_id"} for t in summary.trades]


async def test_unreachable_targets_and_a_dead_notifier_never_touch_the_trading(
    tmp_path: Path,
    redis_server: EmbeddedRedis,
    hooks: Webhooks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone, bare = await paper(tmp_path, redis_server, {})
    assert bare.supervisor is not None and "notifier" not in bare.supervisor.records
    assert alone.entries > 0 and alone.violations == 0
    unreachable = {
        "hangs": {"kind": "generic", "url": hooks.url("/hang")},  # the default 10 s timeout
        "busy": {"kind": "slack", "url": hooks.url("/down")},
        "nobody": {"kind": "discord", "url": f"http://127.0.0.1:{closed_port()}/x"},
    }
    told, run = await paper(tmp_path, redis_server, unreachable)
    assert run.supervisor is not None and "notifier" in run.supervisor.records
    assert trades(told) == trades(alone) and told.violations == 0
    assert (told.entries, told.stopped_early) == (alone.entries, None)
    assert hooks.at("/hang") and hooks.at("/down")  # it tried, and kept trying

    async def cannot_start(self: NotifierConsumer) -> None:
        raise RuntimeError("the notifier is broken")

    monkeypatch.setattr(NotifierConsumer, "start", cannot_start)
    down, run = await paper(tmp_path, redis_server, unreachable)
    assert run.supervisor is not None
    assert run.supervisor.records["notifier"].restarts >= 1
    assert trades(down) == trades(alone) and down.violations == 0
