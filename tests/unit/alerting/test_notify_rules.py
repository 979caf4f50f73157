"""The notifier's pure decisions: who wants what, a target's token bucket, which answers
are retried and after how long (Retry-After honoured), and which market day is owed."""

from __future__ import annotations

from pydantic import SecretStr

from quantum_trader.alerting.notify_rules import (
    TokenBucket,
    after_failure,
    answer_is,
    day_owed,
    retry_after_s,
    utc_day,
    wants,
)
from quantum_trader.config import NotifyKind, NotifySettings, NotifyTarget, NotifyTargetKind
from tests.unit.alerting.samples import T0

DAY = 86_400_000


def test_a_target_takes_the_kinds_it_subscribed_to_and_every_test() -> None:
    exits = NotifyTarget(
        kind=NotifyTargetKind.GENERIC, url=SecretStr("https://x"), events=(NotifyKind.EXIT,)
    )
    everything = NotifyTarget(kind=NotifyTargetKind.GENERIC, url=SecretStr("https://x"))
    assert wants(exits, "exit") and wants(exits, "test") and not wants(exits, "entry")
    assert all(wants(everything, k.value) for k in NotifyKind)


def test_a_burst_spends_the_bucket_then_goes_at_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=0.5, burst=3)
    now, sent = T0, []
    for _ in range(7):
        while (wait := bucket.wait_s(now)) > 0:
            now += int(wait * 1000)
        bucket.take(now)
        sent.append(now - T0)
    assert sent == [0, 0, 0, 2000, 4000, 6000, 8000]
    assert bucket.wait_s(now + 60_000) == 0 and bucket.tokens == 3  # refills to the burst


def test_answers_are_sent_retried_or_final() -> None:
    assert [answer_is(s) for s in (200, 204, 429, 408, 500, 503, 400, 401, 404, 410)] == [
        "sent", "sent", "retry", "retry", "retry", "retry", "final", "final", "final", "final",
    ]  # fmt: skip


def test_retry_after_from_the_header_or_the_chat_apis_body() -> None:
    assert retry_after_s({"Retry-After": "7"}, "", T0) == 7.0
    assert retry_after_s({"retry-after": "1.5"}, "", T0) == 1.5
    assert retry_after_s({"Retry-After": "Mon, 01 Jan 2024 00:00:30 GMT"}, "", T0) == 30.0
    telegram = '{"ok": false, "error_code": 429, "parameters": {"retry_after": 12}}'
    assert retry_after_s({}, telegram, T0) == 12.0
    assert retry_after_s({}, '{"message": "rate limited", "retry_after": 0.75}', T0) == 0.75
    assert retry_after_s({}, "busy", T0) is None and retry_after_s({}, "", T0) is None


def test_backoff_doubles_to_its_cap_honours_retry_after_and_gives_up() -> None:
    settings = NotifySettings(retries=5, backoff_s=1.0, max_backoff_s=5.0)
    waits = [after_failure(settings, n, True, None, "HTTP 500").wait_s for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, None]
    assert after_failure(settings, 6, True, None, "HTTP 500").reason == (
        "gave up after 6 attempts: HTTP 500"
    )
    assert after_failure(settings, 1, True, 3.0, "HTTP 429").wait_s == 3.0
    too_long = after_failure(settings, 1, True, 90.0, "HTTP 429")
    assert too_long.wait_s is None and "asked to wait 90s" in too_long.reason
    final = after_failure(settings, 1, False, None, "HTTP 404")
    assert final.wait_s is None and final.reason == "HTTP 404"


def test_the_day_just_ended_is_owed_once_and_a_first_start_owes_nothing() -> None:
    noon = T0 + DAY // 2  # 2024-01-01 12:00
    assert day_owed(noon, None) == (None, "2023-12-31")
    assert day_owed(noon, "2023-12-31") == (None, "2023-12-31")
    just_after = T0 + DAY + 1  # 2024-01-02 00:00:00.001
    assert day_owed(just_after, "2023-12-31") == ("2024-01-01", "2024-01-01")
    assert day_owed(just_after, "2024-01-01") == (None, "2024-01-01")
    assert day_owed(T0 + 10 * DAY, "2024-01-01") == ("2024-01-10", "2024-01-10")
    assert utc_day(T0 + DAY - 1) == "2024-01-01" and utc_day(T0 + DAY) == "2024-01-02"
