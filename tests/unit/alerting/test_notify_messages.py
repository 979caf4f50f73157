"""Every kind of notice in every target's format: the generic record's stable schema,
Telegram's sendMessage, a Discord webhook's content and embeds, a Slack incoming
webhook's text and blocks — money as decimal strings, times ISO-8601 UTC."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from quantum_trader.alerting.notify_formats import SCHEMA, body_for
from quantum_trader.alerting.notify_messages import (
    DayFigures,
    Notice,
    event_notice,
    fill_notice,
    probe_notice,
    service_dead_notice,
    service_recovered_notice,
    summary_notice,
)
from quantum_trader.config import NotifyKind, NotifyTarget, NotifyTargetKind
from quantum_trader.domain.enums import Side
from tests.unit.alerting import samples
from tests.unit.alerting.samples import T0

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DAY = DayFigures(
    day="2024-01-01",
    trades=3,
    wins=2,
    realized_pnl=Decimal("41.25"),
    fees=Decimal("1.5"),
    best=Decimal("30.1"),
    worst=Decimal("-9.35"),
    closes_by_reason={"stop": 1, "harvest_tranche:1": 2},
    open_positions=2,
    risk_mode="NORMAL",
    equity=Decimal("10039.75"),
)


def target(kind: NotifyTargetKind) -> NotifyTarget:
    chat = "-1001234" if kind is NotifyTargetKind.TELEGRAM else None
    return NotifyTarget(kind=kind, url="https://hooks.example/x", chat_id=chat)  # type: ignore[arg-type]


def every_notice() -> dict[str, Notice]:
    dead_at, back_at = T0 + 600_000, T0 + 900_000
    notices = {
        "entry": fill_notice(samples.fill("entry")),
        "exit": fill_notice(samples.fill("exit", trade="2", pnl="-12.5"), "kill_score"),
        "risk_mode": event_notice(samples.risk_mode()),
        "breaker": event_notice(samples.breaker()),
        "critical": event_notice(samples.event("crash_loop", "critical")),
        "service_dead": service_dead_notice("apply-layer", T0, T0 - 5_000, dead_at, True),
        "service_recovered": service_recovered_notice("apply-layer", T0, back_at),
        "daily_summary": summary_notice(DAY, T0 + 86_400_000 + 5_000),
        "test": probe_notice("ops", "slack", T0),
    }
    out: dict[str, Notice] = {}
    for name, notice in notices.items():
        assert notice is not None, name
        out[name] = notice
    return out


NOTICES = every_notice()
KINDS = [k.value for k in NotifyKind] + ["test"]


def test_every_notify_kind_has_a_notice_here() -> None:
    assert sorted(n.kind for n in NOTICES.values()) == sorted(KINDS)


def test_the_generic_record_of_an_exit_is_the_stable_schema() -> None:
    body = body_for(NOTICES["exit"], target(NotifyTargetKind.GENERIC), "quantum:")
    assert body == {
        "schema": SCHEMA,
        "id": "fill:BTCUSDT:2",
        "kind": "exit",
        "ts": "2024-01-01T00:01:00Z",
        "severity": "info",
        "title": "Exit BTCUSDT LONG: kill_score",
        "text": "LONG 0.01 BTCUSDT closed @ 42000.5 (kill_score), PnL -12.668002 net at "
        "2024-01-01T00:01:00Z",
        "symbol": "BTCUSDT",
        "system": "quantum:",
        "fields": {
            "side": "LONG",
            "symbol": "BTCUSDT",
            "qty": "0.01",
            "price": "42000.5",
            "notional": "420.005",
            "fee": "0.168002 USDT",
            "reason": "kill_score",
            "realized_pnl": "-12.5",
            "net_pnl": "-12.668002",
            "order": body["fields"]["order"],
        },
    }
    assert body["fields"]["order"].startswith("qx-")


def test_entry_exit_and_event_notices_say_what_happened() -> None:
    entry = body_for(NOTICES["entry"], target(NotifyTargetKind.GENERIC))
    assert entry["title"] == "Entry BTCUSDT LONG" and entry["fields"]["price"] == "42000.5"
    short = fill_notice(samples.fill("entry", side=Side.SELL))
    assert short.title == "Entry BTCUSDT SHORT"
    stop = fill_notice(samples.fill("stop", trade="3", pnl="-20"))
    assert stop.kind == "exit" and dict(stop.fields)["reason"] == "stop"
    risk = dict(NOTICES["risk_mode"].fields)
    assert NOTICES["risk_mode"].title == "Risk mode REDUCE_ONLY"
    assert risk["reasons"] == "GROSS_EXPOSURE" and risk["previous_mode"] == "NORMAL"
    breaker = NOTICES["breaker"]
    assert breaker.severity == "critical" and breaker.title.startswith("Circuit breaker tripped")
    assert [k for k, _ in breaker.fields].count("symbol") == 1
    assert event_notice(samples.event("service_restart", "warning")) is None  # not notified
    summary = dict(NOTICES["daily_summary"].fields)
    assert summary["net_pnl"] == "39.75" and summary["win_rate"] == "66.7%"
    assert summary["closes_by_reason"] == "harvest_tranche:1 2, stop 1"


def test_each_notice_keys_on_its_event_alone() -> None:
    again = fill_notice(samples.fill("exit", trade="2", pnl="-12.5"), "kill_score")
    assert again.key == NOTICES["exit"].key == "fill:BTCUSDT:2"
    assert event_notice(samples.risk_mode()) == NOTICES["risk_mode"]
    assert NOTICES["daily_summary"].key == "daily_summary:2024-01-01"
    assert (
        Notice.from_json(json.loads(json.dumps(NOTICES["breaker"].as_json())))
        == (NOTICES["breaker"])
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


@pytest.mark.parametrize("name", list(NOTICES))
@pytest.mark.parametrize("kind", list(NotifyTargetKind), ids=[k.value for k in NotifyTargetKind])
def test_every_kind_of_notice_in_every_format(name: str, kind: NotifyTargetKind) -> None:
    notice = NOTICES[name]
    body = body_for(notice, target(kind), "quantum:")
    json.dumps(body)  # JSON-serialisable as sent
    shown = {  # how each chat escapes its markup
        NotifyTargetKind.TELEGRAM: html.escape,
        NotifyTargetKind.SLACK: lambda t: (
            t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        ),
    }.get(kind, lambda t: t)
    values = [shown(v) for _, v in notice.fields]
    if kind is NotifyTargetKind.GENERIC:
        assert set(body) == {
            "schema", "id", "kind", "ts", "severity", "title", "text", "symbol", "system",
            "fields",
        }  # fmt: skip
        assert body["kind"] == notice.kind and ISO.match(body["ts"])
        assert body["fields"] == dict(notice.fields)
        assert all(isinstance(v, str) for v in body["fields"].values())
    elif kind is NotifyTargetKind.TELEGRAM:
        assert set(body) == {"chat_id", "text", "parse_mode", "disable_web_page_preview"}
        assert body["chat_id"] == "-1001234" and body["parse_mode"] == "HTML"
        assert f"<b>{shown(notice.title)}</b>" in body["text"] and len(body["text"]) <= 4096
        assert all(f"<code>{v}</code>" in body["text"] for v in values)
    elif kind is NotifyTargetKind.DISCORD:
        (embed,) = body["embeds"]
        assert notice.title in body["content"] and body["allowed_mentions"] == {"parse": []}
        assert embed["title"] == notice.title and ISO.match(embed["timestamp"])
        assert [(f["name"], f["value"]) for f in embed["fields"]] == [
            (k, v or "-") for k, v in notice.fields
        ]
    else:
        header, text, *sections, context = body["blocks"]
        assert header == {"type": "header", "text": {"type": "plain_text", "text": notice.title}}
        assert text["text"]["text"] == shown(notice.text)
        assert body["text"].startswith(shown(notice.title))
        cells = [f["text"] for s in sections for f in s["fields"]]
        assert cells == [f"*{k}*\n{shown(v)}" for k, v in notice.fields]
        assert all(len(s["fields"]) <= 10 for s in sections)
        assert context["type"] == "context"
    # every figure reaches the message, whatever the format
    assert all(any(v in t for t in _texts(body)) for v in values if v)


def test_markup_in_a_detail_is_escaped_for_the_chats() -> None:
    notice = event_notice(samples.event("state_lost", "critical", detail="epoch <gone> & lost"))
    assert notice is not None
    telegram = body_for(notice, target(NotifyTargetKind.TELEGRAM))["text"]
    assert "epoch &lt;gone&gt; &amp; lost" in telegram and "<gone>" not in telegram
    slack = json.dumps(body_for(notice, target(NotifyTargetKind.SLACK)))
    assert "&lt;gone&gt;" in slack and "<gone>" not in slack


def test_a_long_message_is_cut_to_what_each_chat_takes() -> None:
    many = Notice(
        key="k",
        kind="critical",
        ts=T0,
        title="t" * 400,
        text="x" * 5000,
        fields=tuple((f"f{i}", "v" * 1500) for i in range(40)),
    )
    telegram = body_for(many, target(NotifyTargetKind.TELEGRAM))["text"]
    assert (
        len(telegram) <= 4096
        and telegram.endswith("…")
        and telegram.count("<code>") == (telegram.count("</code>"))
    )
    (embed,) = body_for(many, target(NotifyTargetKind.DISCORD))["embeds"]
    assert len(embed["fields"]) == 25 and len(embed["title"]) == 256
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])
    slack = body_for(many, target(NotifyTargetKind.SLACK))
    assert len(slack["blocks"][0]["text"]["text"]) <= 150 and len(slack["text"]) <= 3000
