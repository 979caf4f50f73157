"""The notifier service against a real Redis and a local webhook recorder: what each
target receives, once across a restart, at its rate, retried and given up on as the
settings say, dead services and their recovery, the day's summary, malformed messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from quantum_trader.alerting.notify_messages import fill_notice
from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import DeadLetter, Heartbeat, derive_id
from quantum_trader.clock import SimClock
from tests.integration.alerting.notifier_rig import PATHS, Rig, new_rig, parked, running, sending
from tests.integration.alerting.webhooks import Reply, Webhooks, until
from tests.unit.alerting import samples
from tests.unit.alerting.samples import T0

pytestmark = pytest.mark.integration
ALL_FORMATS = {
    "g": {"kind": "generic"},
    "tg": {"kind": "telegram"},
    "dc": {"kind": "discord"},
    "sl": {"kind": "slack", "events": ["exit", "breaker"]},
}


@pytest.fixture
async def rig(redis_client: aioredis.Redis, keys: Keys) -> AsyncIterator[Rig]:
    hooks = await Webhooks(clock=SimClock(T0)).start()
    try:
        yield new_rig(redis_client, keys, hooks)
    finally:
        await hooks.stop()


async def publish_day(rig: Rig) -> None:
    bus = rig.bus
    exit_fill = samples.fill("exit", trade="2", pnl="25.5")
    await rig.redis.hset(rig.keys.exit_reasons, exit_fill.client_order_id, "harvest_tranche:1")
    await bus.publish(rig.keys.fills, samples.fill("entry"))
    await bus.publish(rig.keys.fills, exit_fill)
    await bus.publish(rig.keys.events, samples.risk_mode())
    await bus.publish(rig.keys.events, samples.breaker())
    await bus.publish(rig.keys.events, samples.event("intent_rejected", "info"))
    await bus.publish(rig.keys.events, samples.event("crash_loop", "critical"))


async def test_each_target_gets_the_events_it_wants_in_its_own_format(rig: Rig) -> None:
    runtime, notifier = rig.notifier(rig.settings(ALL_FORMATS))
    async with running(runtime):
        await publish_day(rig)
        hooks = rig.hooks
        await until(lambda: len(hooks.received) == 3 * 5 + 2)
    generic = hooks.bodies(PATHS["generic"])
    assert sorted(b["kind"] for b in generic) == sorted(
        ["entry", "exit", "risk_mode", "breaker", "critical"]
    )
    exit_body = next(b for b in generic if b["kind"] == "exit")
    assert exit_body["fields"]["reason"] == "harvest_tranche:1"
    assert exit_body["fields"]["realized_pnl"] == "25.5" and exit_body["ts"].endswith("Z")
    telegram = hooks.bodies(PATHS["telegram"])
    assert {b["chat_id"] for b in telegram} == {"-1001234"} and len(telegram) == 5
    assert all(b["parse_mode"] == "HTML" and "<b>" in b["text"] for b in telegram)
    assert all(len(b["embeds"]) == 1 for b in hooks.bodies(PATHS["discord"]))
    slack = hooks.bodies(PATHS["slack"])
    assert sorted(b["blocks"][0]["text"]["text"].split()[0] for b in slack) == ["Circuit", "Exit"]
    assert notifier.sent == {"g": 5, "tg": 5, "dc": 5, "sl": 2}
    assert await rig.failures() == []


async def test_a_restarted_notifier_sends_nothing_twice(rig: Rig) -> None:
    settings = rig.settings({"g": {"kind": "generic"}})
    first, _ = rig.notifier(settings, "n1")
    async with running(first):
        await publish_day(rig)
        await until(lambda: len(rig.hooks.received) == 5)
    # Everything is delivered again, as after a crash before the acks (or a lost group).
    for stream in (rig.keys.fills, rig.keys.events):
        await rig.redis.xgroup_setid(stream, "notifier", "0")
    second, notifier = rig.notifier(settings, "n2")
    async with running(second):
        await rig.bus.publish(rig.keys.fills, samples.fill("entry", symbol="ETHUSDT", trade="9"))
        await until(lambda: second.processed == 7 and len(rig.hooks.received) == 6)
    keys_sent = [b["id"] for b in rig.hooks.bodies(PATHS["generic"])]
    assert len(keys_sent) == len(set(keys_sent)) == 6
    assert (await notifier.stats())["g:deduplicated"] == 5


async def test_a_burst_goes_out_at_the_targets_rate(rig: Rig) -> None:
    settings = rig.settings({"g": {"kind": "generic"}}, rate_per_minute=60, burst=2)
    _, notifier = rig.notifier(settings)
    for n in range(6):
        await notifier.enqueue(fill_notice(samples.fill("entry", trade=str(n))))
    async with sending(notifier):
        while len(rig.hooks.received) < 6:
            await until(lambda: parked(rig.timer))
            if len(rig.hooks.received) < 6:
                rig.timer.advance(0.25)
    times = [r.at - T0 for r in rig.hooks.received if r.at is not None]
    assert times == [0, 0, 1000, 2000, 3000, 4000]


async def test_retries_back_off_honour_retry_after_then_succeed(rig: Rig) -> None:
    path = PATHS["slack"]
    rig.hooks.scripts[path] = [
        Reply(500),
        Reply(503),
        Reply(429, {"Retry-After": "7"}),
        Reply(200, body="ok"),
    ]
    settings = rig.settings({"sl": {"kind": "slack"}}, retries=3, backoff_s=1.0)
    _, notifier = rig.notifier(settings)
    await notifier.enqueue(fill_notice(samples.fill("exit", pnl="-3")))
    async with sending(notifier):
        while not notifier.sent:
            await until(lambda: parked(rig.timer))
            if not notifier.sent:
                rig.timer.advance(0.5)
    assert [r.at - T0 for r in rig.hooks.at(path) if r.at is not None] == [0, 1000, 3000, 10000]
    stats = await notifier.stats()
    assert stats["sl:sent"] == 1 and stats["sl:retried"] == 3 and "sl:failed" not in stats
    assert await rig.outbox("sl") == [] and await rig.failures() == []


async def test_a_notice_given_up_on_is_counted_and_recorded_with_its_reason(rig: Rig) -> None:
    hooks = rig.hooks
    hooks.always["/down"] = Reply(500, body="oops")
    hooks.always["/gone"] = Reply(404, body="no_service")
    hooks.always["/flood"] = Reply(429, {"Retry-After": "3600"})
    settings = rig.settings(
        {
            "down": {"kind": "generic", "path": "/down"},
            "gone": {"kind": "slack", "path": "/gone"},
            "flood": {"kind": "discord", "path": "/flood"},
        },
        retries=2,
        backoff_s=1.0,
    )
    _, notifier = rig.notifier(settings)
    first = fill_notice(samples.fill("entry"))
    second = fill_notice(samples.fill("entry", trade="2"))
    await notifier.enqueue(first)
    await notifier.enqueue(second)
    async with sending(notifier):
        while sum(notifier.failed.values()) < 6:
            await until(lambda: parked(rig.timer, loops=3))
            rig.timer.advance(0.5)
    assert len(hooks.at("/down")) == 6 and len(hooks.at("/gone")) == 2
    assert len(hooks.at("/flood")) == 2  # asked for an hour: given up at once, each
    letters = await rig.failures()
    assert all(isinstance(d, DeadLetter) and d.group == "notifier" for d in letters)
    down = [d for d in letters if d.reason.startswith("down ")]
    assert [d.original_id for d in down] == [first.key, second.key]
    assert down[0].reason == "down (generic): gave up after 3 attempts: HTTP 500 oops"
    assert down[0].failures == 3 and '"kind":"entry"' in down[0].raw
    gone = next(d for d in letters if d.reason.startswith("gone "))
    assert gone.reason == "gone (slack): HTTP 404 no_service" and gone.failures == 1
    flood = next(d for d in letters if d.reason.startswith("flood "))
    assert "asked to wait 3600s, more than max_backoff_s" in flood.reason
    stats = await notifier.stats()
    assert (stats["down:failed"], stats["gone:failed"], stats["flood:failed"]) == (2, 2, 2)
    assert [await rig.outbox(n) for n in ("down", "gone", "flood")] == [[], [], []]


async def beat(rig: Rig, service: str, status: str = "running") -> None:
    now = rig.clock.now_ms()
    heartbeat = Heartbeat(
        msg_id=derive_id("hb", service, now, status),
        ts_event=now,
        ts_init=now,
        source=service,
        service=service,
        instance="test",
        pid=1,
        status=status,
        started_at=now,
    )
    await rig.redis.set(rig.keys.health(service), encode(heartbeat), px=60_000)


async def test_a_dead_service_and_its_recovery_are_told_once_each(rig: Rig) -> None:
    from quantum_trader.alerting.notify_watch import ServiceWatch

    settings = rig.settings({"g": {"kind": "generic"}}, service_down_after_s=30)
    _, notifier = rig.notifier(settings)
    services = ["apply-layer", "ledger"]
    await beat(rig, "apply-layer")
    await beat(rig, "ledger")
    watch = ServiceWatch(notifier, services)
    await watch.check()
    await rig.redis.delete(rig.keys.health("apply-layer"))
    await beat(rig, "ledger", "stalled")  # alive, but its loops do not turn
    for seconds in (0, 10, 29.9):
        rig.timer.set(T0 + int(seconds * 1000))
        await watch.check()
    assert await rig.outbox("g") == []
    for seconds in (31, 40, 300):
        rig.timer.set(T0 + int(seconds * 1000))
        await watch.check()
    told = [n["title"] for n in await rig.outbox("g")]
    assert told == ["Service down: apply-layer", "Service down: ledger"]
    restarted = ServiceWatch(notifier, services)  # a new notifier process: no repeat
    rig.timer.set(T0 + 400_000)
    await restarted.check()
    await beat(rig, "apply-layer")
    await beat(rig, "ledger")
    rig.timer.set(T0 + 401_000)
    await restarted.check()
    await restarted.check()
    async with sending(notifier):
        await until(lambda: len(rig.hooks.received) == 4)
    bodies = rig.hooks.bodies(PATHS["generic"])
    assert [b["title"] for b in bodies] == [
        "Service down: apply-layer",
        "Service down: ledger",
        "Service recovered: apply-layer",
        "Service recovered: ledger",
    ]
    assert bodies[0]["severity"] == "critical" and bodies[1]["severity"] == "warning"
    assert bodies[0]["fields"]["silent_for"] == "31s"
    assert bodies[2]["fields"]["down_for"] == "6m 41s"


async def test_the_market_day_is_summarised_once_after_utc_midnight(
    rig: Rig, tmp_path: object
) -> None:
    from pathlib import Path

    from quantum_trader.alerting.notify_watch import DailySummary
    from tests.integration.alerting.journal_rows import closed_positions_journal

    journal = closed_positions_journal(Path(str(tmp_path)) / "journal.sqlite")
    k = rig.keys
    await rig.redis.sadd(k.positions, "BTCUSDT", "ETHUSDT")
    await rig.redis.set(k.risk_state, '{"mode": "REDUCE_ONLY", "reasons": ["GROSS_EXPOSURE"]}')
    await rig.redis.set(k.risk_kill_switch, "{}")
    await rig.redis.hset(k.sizing_basis, mapping={"equity": "10040.25", "bar_time": "1"})
    settings = rig.settings({"g": {"kind": "generic", "events": ["daily_summary"]}})
    _, notifier = rig.notifier(settings, journal=journal)
    summary = DailySummary(notifier, journal)
    rig.clock.set(T0 + 86_400_000 - 1_000)  # 2024-01-01 23:59:59: a first start
    assert await summary.check() is None
    rig.clock.set(T0 + 86_400_000 + 5_000)  # just past midnight
    assert await summary.check() == "2024-01-01"
    assert await summary.check() is None
    assert await DailySummary(notifier, journal).check() is None  # restarted: not again
    async with sending(notifier):
        await until(lambda: len(rig.hooks.received) == 1)
    (body,) = rig.hooks.bodies(PATHS["generic"])
    assert body["kind"] == "daily_summary" and body["ts"] == "2024-01-02T00:00:05Z"
    assert body["fields"] == {
        "day": "2024-01-01",
        "trades": "2",
        "wins": "1",
        "losses": "1",
        "win_rate": "50.0%",
        "realized_pnl": "18",
        "fees": "1",
        "net_pnl": "17",
        "best": "29.5",
        "worst": "-12.5",
        "closes_by_reason": "stop 1, trailing_stop 1",
        "open_positions": "2",
        "risk_mode": "REDUCE_ONLY (+ kill switch)",
        "equity": "10040.25",
    }
    journal.close()


async def test_malformed_messages_are_dead_lettered_and_the_notifier_goes_on(rig: Rig) -> None:
    runtime, _ = rig.notifier(rig.settings({"g": {"kind": "generic"}}))
    async with running(runtime):
        await rig.redis.xadd(rig.keys.fills, {"msg": b"{not json"})
        await rig.redis.xadd(rig.keys.events, {"something": b"else"})
        await rig.redis.xadd(rig.keys.events, {"msg": encode(samples.fill("entry", trade="5"))})
        await rig.bus.publish(rig.keys.fills, samples.fill("entry"))
        await until(lambda: len(rig.hooks.received) == 1 and runtime.dead_lettered == 3)
    from quantum_trader.bus.codec import decode

    letters = [decode(f[b"msg"]) for _, f in await rig.redis.xrange(rig.keys.dead)]
    assert [(d.group, d.source_stream) for d in letters] == [
        ("notifier", rig.keys.fills),
        ("notifier", rig.keys.events),
        ("notifier", rig.keys.events),
    ]
    assert all(isinstance(d, DeadLetter) and d.reason for d in letters)
    assert rig.hooks.bodies(PATHS["generic"])[0]["id"] == "fill:BTCUSDT:1"


async def test_events_older_than_the_dedup_window_are_not_sent(rig: Rig) -> None:
    runtime, notifier = rig.notifier(rig.settings({"g": {"kind": "generic"}}, dedup_window_s=60))
    rig.clock.set(T0 + 3_600_000)
    async with running(runtime):
        await rig.bus.publish(rig.keys.fills, samples.fill("entry"))  # an hour old
        await rig.bus.publish(rig.keys.events, samples.risk_mode(at=T0 + 3_590_000))
        await until(lambda: len(rig.hooks.received) == 1 and runtime.processed == 2)
    assert rig.hooks.bodies(PATHS["generic"])[0]["kind"] == "risk_mode"
    assert (await notifier.stats())["stale"] == 1


async def test_every_notify_setting_steers_the_notifier(rig: Rig) -> None:
    """Each field of ``notify`` (and of a target) changes what the notifier does; the
    settings test names this one for the section."""
    import dataclasses

    from quantum_trader.alerting.notify_http import WebhookSender
    from quantum_trader.alerting.notify_watch import ServiceWatch
    from quantum_trader.config import NotifySettings, NotifyTarget

    checked: set[str] = set()
    hooks, timer = rig.hooks, rig.timer
    hooks.always["/down"] = Reply(500)
    hooks.always["/hang"] = Reply(hang=True)
    # targets: kind, url, chat_id, events, rate_per_minute — where and what each is sent
    settings = rig.settings(
        {
            "tg": {"kind": "telegram", "chat_id": "777", "events": ["exit"]},
            "down": {"kind": "generic", "path": "/down", "rate_per_minute": 6},
        },
        retries=2,
        backoff_s=2.0,
        max_backoff_s=3.0,
        rate_per_minute=30,
        burst=4,
        dedup_window_s=600,
        service_down_after_s=5,
        watch_interval_s=7,
    )
    runtime, notifier = rig.notifier(settings, services=["ledger"])
    entry, exit_fill = samples.fill("entry"), samples.fill("exit", trade="2")
    assert await notifier.enqueue(fill_notice(entry)) == 1  # "down" only: tg wants exits
    assert await notifier.enqueue(fill_notice(exit_fill)) == 2
    ttl = await rig.redis.pttl(rig.keys.notify_sent("tg", fill_notice(exit_fill).key))
    assert 599_000 < ttl <= 600_000
    checked |= {"targets", "kind", "url", "chat_id", "events", "dedup_window_s"}
    sender = notifier.sender
    assert sender is not None
    tg, down = settings.targets["tg"], settings.targets["down"]
    assert (sender.bucket("tg", tg).rate_per_s, sender.bucket("tg", tg).burst) == (0.5, 4)
    assert sender.bucket("down", down).rate_per_s == 0.1
    checked |= {"rate_per_minute", "burst"}
    async with sending(notifier):
        await until(lambda: len(hooks.bodies(PATHS["telegram"])) == 1)
        while sum(notifier.failed.values()) < 2:
            await until(lambda: parked(timer, loops=2))
            timer.advance(0.5)
    assert hooks.bodies(PATHS["telegram"])[0]["chat_id"] == "777"
    # retries 2, backoff 2 s capped at 3 s; the target's own rate: a token per 10 s
    down_at = [r.at - T0 for r in hooks.at("/down") if r.at is not None]
    assert down_at[:3] == [0, 2000, 5000] and len(down_at) == 6
    checked |= {"retries", "backoff_s", "max_backoff_s"}
    quick = WebhookSender(NotifySettings(retries=0, timeout_s=0.1))
    hang = NotifyTarget(kind="generic", url=hooks.url("/hang"))  # type: ignore[arg-type]
    outcome = await quick.deliver("hang", hang, fill_notice(entry))
    await quick.close()
    assert (outcome.sent, outcome.reason) == (
        False,
        "gave up after 1 attempt: timed out after 0.1s",
    )
    checked.add("timeout_s")
    watch = ServiceWatch(notifier, ["ledger"])
    timer.set(T0 + 100_000)
    await watch.check()
    timer.set(T0 + 104_999)
    await watch.check()
    assert "ledger" not in watch.states
    timer.set(T0 + 105_000)
    await watch.check()
    assert watch.states["ledger"].dead  # silent for service_down_after_s
    checked.add("service_down_after_s")
    async with running(runtime):
        now = timer.now_ms()
        await until(lambda: any(d == now + 7_000 and not f.done() for d, _, f in timer._sleepers))
    checked.add("watch_interval_s")
    names = {f.name for f in dataclasses.fields(NotifySettings)}
    assert checked == names | {f.name for f in dataclasses.fields(NotifyTarget)}
