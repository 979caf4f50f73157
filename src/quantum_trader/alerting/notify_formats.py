"""How each kind of target takes a notice, pure of IO: the generic JSON record (a stable
schema: ``schema``, ``id`` — the notice's dedup key —, ``kind``, ``ts`` as ISO-8601 UTC,
``severity``, ``title``, ``text``, ``symbol``, ``system``, ``fields``), Telegram's Bot API
``sendMessage`` (``chat_id``, HTML ``text``, ``parse_mode``), a Discord webhook's
``content`` and one embed, a Slack incoming webhook's ``text`` and ``blocks``. Each chat's
markup is escaped and each of its size limits kept.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from quantum_trader.alerting.notify_messages import Notice
from quantum_trader.config import NotifyTarget, NotifyTargetKind
from quantum_trader.domain.timefmt import iso_utc

SCHEMA = "quantum.notification/1"
_COLOURS = {"info": 0x2E86DE, "warning": 0xF39C12, "critical": 0xE74C3C}
_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
TELEGRAM_LIMIT = 4096
DISCORD_FIELDS, DISCORD_VALUE = 25, 1024
SLACK_FIELDS, SLACK_TEXT = 10, 2000


def body_for(notice: Notice, target: NotifyTarget, system: str = "") -> dict[str, Any]:
    """The request body ``target`` takes for ``notice`` (``system``: the key namespace,
    which tells two systems' notices apart)."""
    if target.kind is NotifyTargetKind.TELEGRAM:
        return telegram_body(notice, target.chat_id or "", system)
    if target.kind is NotifyTargetKind.DISCORD:
        return discord_body(notice, system)
    if target.kind is NotifyTargetKind.SLACK:
        return slack_body(notice, system)
    return generic_body(notice, system)


def generic_body(notice: Notice, system: str = "") -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": notice.key,
        "kind": notice.kind,
        "ts": iso_utc(notice.ts),
        "severity": notice.severity,
        "title": notice.title,
        "text": notice.text,
        "symbol": notice.symbol or None,
        "system": system or None,
        "fields": dict(notice.fields),
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def telegram_body(notice: Notice, chat_id: str, system: str = "") -> dict[str, Any]:
    lines = [f"{_ICONS[notice.severity]} <b>{html.escape(notice.title)}</b>"]
    lines += [f"{html.escape(k)}: <code>{html.escape(v)}</code>" for k, v in notice.fields]
    lines += [f"<i>{iso_utc(notice.ts)}{' · ' + html.escape(system) if system else ''}</i>"]
    text = "\n".join(lines)
    if len(text) > TELEGRAM_LIMIT:  # cut whole lines: a cut tag would be refused
        kept: list[str] = []
        for line in lines:
            if len("\n".join([*kept, line, "…"])) > TELEGRAM_LIMIT:
                break
            kept.append(line)
        text = "\n".join([*kept, "…"])
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def discord_body(notice: Notice, system: str = "") -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": _cut(notice.title, 256),
        "description": _cut(notice.text, 4096),
        "color": _COLOURS[notice.severity],
        "timestamp": iso_utc(notice.ts),
        "fields": [
            {"name": _cut(k, 256), "value": _cut(v or "-", DISCORD_VALUE), "inline": True}
            for k, v in notice.fields[:DISCORD_FIELDS]
        ],
    }
    if system:
        embed["footer"] = {"text": system}
    return {
        "content": _cut(f"{_ICONS[notice.severity]} {notice.title}", 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},  # a symbol or reason never pings anyone
    }


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(notice: Notice, system: str = "") -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(notice.title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(notice.text), 3000)}},
    ]
    pairs: Sequence[tuple[str, str]] = notice.fields
    for start in range(0, len(pairs), SLACK_FIELDS):
        chunk = pairs[start : start + SLACK_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _cut(f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}", SLACK_TEXT)}
                    for k, v in chunk
                ],
            }
        )
    context = f"{notice.severity} · {iso_utc(notice.ts)}" + (f" · {system}" if system else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]})
    return {"text": _cut(_mrkdwn(f"{notice.title}: {notice.text}"), 3000), "blocks": blocks}


def encoded(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
