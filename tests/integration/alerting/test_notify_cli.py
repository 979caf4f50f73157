"""``quantum notify test`` and ``quantum service notifier`` through the real command line:
one test message per target and the table of answers; the notifier as its own process,
telling a fill it reads from Redis and stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from quantum_trader import cli
from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.config import load_settings
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.service_main import ServiceSetup, run_service
from tests.integration.alerting.webhooks import Reply, Webhooks, until
from tests.integration.download.archive import Background
from tests.integration.ops.run_process import start
from tests.unit.alerting import samples

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Webhooks]:
    """A recorder in a loop of its own (the command runs its own), and a clean env."""
    for name in ("QUANTUM_REDIS_URL", "QUANTUM_NOTIFY__TARGETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()
    background = Background()

    async def make() -> Webhooks:
        return await Webhooks().start()

    hooks = background.run(make())
    try:
        yield hooks
    finally:
        background.run(hooks.stop())
        background.close()


def targets(hooks: Webhooks, **extra: dict[str, str]) -> str:
    chosen = {
        "ops": {"kind": "slack", "url": hooks.url("/slack")},
        "phone": {
            "kind": "telegram",
            "url": hooks.url("/bot42:secret/sendMessage"),
            "chat_id": "-100",
        },
        **extra,
    }
    return json.dumps(chosen)


def test_notify_test_sends_one_message_to_each_target_and_shows_the_answers(
    served: Webhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTUM_NOTIFY__TARGETS", targets(served))
    result = runner.invoke(cli.app, ["notify", "test", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["target"], r["kind"], r["sent"], r["status"]) for r in rows] == [
        ("ops", "slack", True, 200),
        ("phone", "telegram", True, 200),
    ]
    (telegram,) = served.bodies("/bot42:secret/sendMessage")
    assert telegram["chat_id"] == "-100" and "Test notification" in telegram["text"]
    assert served.bodies("/slack")[0]["blocks"][0]["text"]["text"] == "Test notification"
    table = runner.invoke(cli.app, ["notify", "test", "--target", "ops"])
    assert table.exit_code == 0 and "ops" in table.stdout and "phone" not in table.stdout
    assert "sent" in table.stdout and len(served.received) == 3


def test_notify_test_fails_on_a_target_that_refuses_and_names_a_bad_target(
    served: Webhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.always["/gone"] = Reply(404, body="no_service")
    monkeypatch.setenv(
        "QUANTUM_NOTIFY__TARGETS",
        targets(served, gone={"kind": "discord", "url": served.url("/gone")}),
    )
    result = runner.invoke(cli.app, ["notify", "test", "--json"])
    assert result.exit_code == 1
    gone = next(r for r in json.loads(result.stdout) if r["target"] == "gone")
    assert (gone["sent"], gone["status"], gone["reason"]) == (False, 404, "HTTP 404 no_service")
    assert "secret" not in result.stdout  # a URL's token never shows
    unknown = runner.invoke(cli.app, ["notify", "test", "--target", "nope"])
    assert unknown.exit_code == 2 and "'nope': not configured" in unknown.output
    monkeypatch.delenv("QUANTUM_NOTIFY__TARGETS")
    none = runner.invoke(cli.app, ["notify", "test"])
    assert none.exit_code == 2 and "no notify targets configured" in none.output


async def test_quantum_service_notifier_tells_what_it_reads_and_stops_on_sigterm(
    tmp_path: Path, redis_server: EmbeddedRedis, redis_client: aioredis.Redis, keys: Keys
) -> None:
    hooks = await Webhooks().start()
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": keys.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
        "QUANTUM_NOTIFY__TARGETS": json.dumps({"g": {"kind": "generic", "url": hooks.url("/g")}}),
    }
    proc = start(["service", "notifier"], env, tmp_path)
    try:
        for _ in range(600):  # its heartbeat: its consumer turns, its group exists
            if await redis_client.exists(keys.health("notifier")) or proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        now = int(time.time() * 1000)  # the process runs on the wall clock
        await redis_client.xadd(keys.fills, {"msg": encode(samples.fill("entry", at=now))})
        await until(lambda: len(hooks.received) == 1, timeout_s=20)
        assert hooks.bodies("/g")[0]["id"] == "fill:BTCUSDT:1"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        await hooks.stop()


async def test_the_notifier_process_without_targets_says_so(
    redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = load_settings(redis_url=redis_server.url)
    assert await run_service("notifier", ServiceSetup(bare, "", ())) == 2
    assert "no notify.targets configured" in capsys.readouterr().out


def test_only_the_notifier_runs_without_an_exchange(served: Webhooks) -> None:
    result = runner.invoke(cli.app, ["service", "ledger"])
    assert result.exit_code == 2 and "needs --exchange-url" in result.output


def test_a_forked_service_keeps_the_targets_urls() -> None:
    """A service process is handed the settings as JSON (``quantum run --processes``,
    chaos): the targets' URLs travel whole, as the exchange keys do."""
    settings = load_settings(
        redis_url="redis://127.0.0.1:1",
        notify={"targets": {"g": {"kind": "generic", "url": "https://hooks.example/t0ken"}}},
    )
    setup = ServiceSetup(settings, "http://127.0.0.1:8765", ("BTCUSDT",))
    assert ServiceSetup.from_json(setup.to_json()).settings == settings
    assert "t0ken" not in json.dumps(settings.masked())
