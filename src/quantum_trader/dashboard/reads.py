"""What the pages show, read from Redis: the risk keys, the services and their consumer
groups, positions, orders, results, events, dead letters and the audit trail.

Every time shown is ISO-8601 UTC (``*_iso`` beside the epoch-ms field); every amount a
decimal string.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

from redis.exceptions import ResponseError

from quantum_trader.bus import groups as bus_groups
from quantum_trader.bus.codec import decode
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import (
    ApplyResult,
    DeadLetter,
    Event,
    FillEvent,
    Heartbeat,
    Message,
    OperatorAction,
)
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.live import LiveState
from quantum_trader.dashboard.positions import position_row, unrealized
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import is_entry, is_exit, is_stop
from quantum_trader.domain.timefmt import iso_or_none
from quantum_trader.services.ledger import RedisLedger

RESTART_KINDS = ("service_restart", "crash_loop")


def _json(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(as_text(raw))
    except ValueError:
        return {"raw": as_text(raw)}
    return value if isinstance(value, dict) else {"raw": value}


def _iso(value: dict[str, Any] | None, *names: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return {**value, **{f"{n}_iso": iso_or_none(value.get(n)) for n in names if n in value}}


async def messages(ctx: DashboardContext, stream: str, count: int) -> list[tuple[str, Message]]:
    """The newest ``count`` decodable entries of ``stream``, newest first."""
    out = []
    entries: Any = await ctx.redis.xrevrange(stream, count=count)
    for entry_id, fields in entries:
        try:
            out.append((as_text(entry_id), decode(fields[b"msg"])))
        except (KeyError, ValueError):
            continue
    return out


async def risk(ctx: DashboardContext) -> dict[str, Any]:
    keys, now = ctx.keys, ctx.now()
    state, switch, supervisor, circuit = await ctx.redis.mget(
        keys.risk_state, keys.risk_kill_switch, keys.risk_supervisor, keys.risk_circuit
    )
    risk_state = _iso(_json(state), "since", "updated_at") or {}
    pauses = []
    async for key in ctx.redis.scan_iter(keys.pause_entries("*")):
        name = as_text(key)
        lock = _json(await ctx.redis.get(key)) or {}
        until = lock.get("until")
        pauses.append(
            {
                "symbol": name.rsplit(":", 1)[-1],
                **lock,
                "until_iso": iso_or_none(until),
                "active": not isinstance(until, int) or until > now,
            }
        )
    return {
        "mode": risk_state.get("mode", "UNKNOWN"),
        "reasons": risk_state.get("reasons", []),
        "state": risk_state,
        "kill_switch": _iso(_json(switch), "at"),
        "supervisor": _iso(_json(supervisor), "since"),
        "circuit": _iso(_json(circuit), "at"),
        "pauses": sorted(pauses, key=lambda p: str(p["symbol"])),
        "now_iso": iso_or_none(now),
    }


async def services(ctx: DashboardContext) -> dict[str, Any]:
    keys, redis = ctx.keys, ctx.redis
    ttl = ctx.settings.heartbeat_ttl_ms
    restarts: Counter[str] = Counter()
    last_error: dict[str, dict[str, Any]] = {}
    for _, event in reversed(await messages(ctx, keys.events, 5_000)):
        if isinstance(event, Event) and event.kind in RESTART_KINDS:
            service = event.evidence.get("service") or event.source
            restarts[service] += event.kind == "service_restart"
            last_error[service] = {"detail": event.detail, "at_iso": iso_or_none(event.ts_event)}
    rows = []
    async for key in redis.scan_iter(keys.health("*")):
        raw, left = await redis.get(key), int(await redis.pttl(key))
        try:
            beat = decode(raw) if raw else None
        except ValueError:
            beat = None
        if not isinstance(beat, Heartbeat):
            continue
        age = max(0, ttl - left) if left >= 0 else None
        rows.append(
            {
                "service": beat.service,
                "status": beat.status,
                "instance": beat.instance,
                "pid": beat.pid,
                "processed": beat.processed,
                "failed": beat.failed,
                "dead_lettered": beat.dead_lettered,
                "heartbeat_age_ms": age,
                "ttl_ms": left,
                "healthy": beat.status == "running" and age is not None and age < ttl,
                "started_at_iso": iso_or_none(beat.started_at),
                "restarts": restarts.get(beat.service, 0),
                "last_error": last_error.get(beat.service),
            }
        )
    seen = {r["service"] for r in rows}
    for service in sorted(set(restarts) | set(last_error)):
        if service not in seen:  # restarted once, silent now: dead
            rows.append(
                {
                    "service": service,
                    "status": "no heartbeat",
                    "instance": "",
                    "pid": None,
                    "processed": None,
                    "failed": None,
                    "dead_lettered": None,
                    "heartbeat_age_ms": None,
                    "ttl_ms": -2,
                    "healthy": False,
                    "started_at_iso": None,
                    "restarts": restarts.get(service, 0),
                    "last_error": last_error.get(service),
                }
            )
    return {
        "services": sorted(rows, key=lambda r: str(r["service"])),
        "groups": await consumer_groups(ctx),
        "dead_letters": int(await redis.xlen(keys.dead)),
    }


async def consumer_groups(ctx: DashboardContext) -> list[dict[str, Any]]:
    rows = []
    for stream, names in bus_groups.topology(ctx.keys).items():
        try:
            found = {as_text(g["name"]): g for g in await ctx.redis.xinfo_groups(stream)}
            length = int(await ctx.redis.xlen(stream))
        except ResponseError:
            found, length = {}, 0
        for name in names:
            g = found.get(name)
            rows.append(
                {
                    "stream": stream.removeprefix(f"{ctx.keys.prefix}stream:"),
                    "group": name,
                    "exists": g is not None,
                    "consumers": int(g["consumers"]) if g else 0,
                    "pending": int(g["pending"]) if g else 0,
                    "lag": None if not g or g.get("lag") is None else int(g["lag"]),
                    "last_delivered": as_text(g["last-delivered-id"]) if g else "",
                    "length": length,
                }
            )
    return rows


async def positions(ctx: DashboardContext, live: LiveState) -> dict[str, Any]:
    ledger = await RedisLedger(ctx.redis, ctx.keys).all()
    equity = live.equity[-1][1] if live.equity else None
    tranches = len(ctx.settings.exits.harvest.tranches)
    rows, gross, upnl = [], Decimal(0), Decimal(0)
    for p in sorted(ledger, key=lambda p: p.symbol):
        mark = live.mark(p.symbol)
        row = position_row(
            p,
            mark,
            equity,
            ctx.instruments.get(p.symbol),
            tranches,
            live.exit_plans.get(p.position_id),
        )
        rows.append(row)
        gross += p.qty * (mark or p.entry_price)
        upnl += unrealized(p, mark) or Decimal(0)
    return {
        "positions": rows,
        "count": len(rows),
        "gross_exposure": fmt(gross.quantize(Decimal("0.01"))),
        "unrealized_pnl": fmt(upnl.quantize(Decimal("0.0001"))),
        "realized_open": fmt(sum((p.realized_pnl - p.fees for p in ledger), Decimal(0))),
        "equity": fmt(equity) if equity is not None else None,
        "gross_decimal": gross,
        "unrealized_decimal": upnl,
    }


def _purpose(coid: str) -> str:
    if is_entry(coid):
        return "entry"
    if is_stop(coid):
        return "stop"
    return "exit" if is_exit(coid) else "other"


async def orders(ctx: DashboardContext, limit: int = 100) -> dict[str, Any]:
    keys = ctx.keys
    stops = [
        {
            "symbol": p.symbol,
            "client_order_id": p.stop_order_id,
            "type": "STOP_MARKET",
            "side": p.side.exit_side.value,
            "qty": fmt(p.qty),
            "stop_price": fmt(p.stop_price),
            "reduce_only": True,
            "position_id": p.position_id,
        }
        for p in await RedisLedger(ctx.redis, keys).all()
        if p.stop_order_id
    ]
    inflight = []
    async for key in ctx.redis.scan_iter(keys.inflight("*")):
        lease = _json(await ctx.redis.get(key)) or {}
        inflight.append(
            {
                "symbol": as_text(key).rsplit(":", 1)[-1],
                **lease,
                "since_iso": iso_or_none(lease.get("since")),
            }
        )
    results = []
    for entry_id, r in await messages(ctx, keys.apply_result, limit):
        if isinstance(r, ApplyResult):
            results.append(result_row(r, entry_id))
    fills = []
    for _, f in await messages(ctx, keys.fills, limit):
        if isinstance(f, FillEvent):
            fills.append(fill_row(f))
    return {"conditional": stops, "inflight": inflight, "results": results, "fills": fills}


def result_row(r: ApplyResult, entry_id: str = "") -> dict[str, Any]:
    return {
        "plan_id": r.plan_id,
        "symbol": r.symbol,
        "action": r.action.value,
        "executed": r.executed,
        "reason": r.reason,
        "client_order_id": r.client_order_id,
        "exchange_order_id": r.exchange_order_id,
        "filled_qty": fmt(r.filled_qty),
        "avg_price": fmt(r.avg_price),
        "at_iso": iso_or_none(r.ts_event),
        "entry_id": entry_id,
    }


def fill_row(f: FillEvent) -> dict[str, Any]:
    return {
        "symbol": f.symbol,
        "trade_id": f.trade_id,
        "client_order_id": f.client_order_id,
        "purpose": _purpose(f.client_order_id),
        "side": f.side.value,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "commission": fmt(f.commission),
        "realized_pnl": fmt(f.realized_pnl),
        "reduce_only": f.reduce_only,
        "at_iso": iso_or_none(f.ts_event),
        "at_ms": f.ts_event,
    }


async def events(
    ctx: DashboardContext, kinds: tuple[str, ...] = (), limit: int = 200, scan: int = 10_000
) -> list[dict[str, Any]]:
    out = []
    for entry_id, e in await messages(ctx, ctx.keys.events, scan):
        if isinstance(e, Event) and (not kinds or e.kind in kinds):
            out.append(
                {
                    "kind": e.kind,
                    "severity": e.severity,
                    "symbol": e.symbol,
                    "detail": e.detail,
                    "risk_mode": e.risk_mode.value if e.risk_mode else None,
                    "source": e.source,
                    "evidence": dict(e.evidence),
                    "at_iso": iso_or_none(e.ts_event),
                    "entry_id": entry_id,
                }
            )
            if len(out) >= limit:
                break
    return out


async def dead_letters(ctx: DashboardContext, limit: int = 200) -> list[dict[str, Any]]:
    out = []
    for entry_id, d in await messages(ctx, ctx.keys.dead, limit):
        if isinstance(d, DeadLetter):
            out.append(
                {
                    "reason": d.reason,
                    "source_stream": d.source_stream,
                    "original_id": d.original_id,
                    "group": d.group,
                    "consumer": d.consumer,
                    "failures": d.failures,
                    "raw": d.raw[:500],
                    "at_iso": iso_or_none(d.ts_event),
                    "entry_id": entry_id,
                }
            )
    return out


async def audit(ctx: DashboardContext, limit: int = 200) -> list[dict[str, Any]]:
    """The audit trail, newest first; an action that sent a plan shows how it executed."""
    executed: dict[str, ApplyResult] = {}
    for _, r in await messages(ctx, ctx.keys.apply_result, 5_000):
        if isinstance(r, ApplyResult) and r.plan_id not in executed:
            executed[r.plan_id] = r
    out = []
    for entry_id, a in await messages(ctx, ctx.keys.audit, limit):
        if not isinstance(a, OperatorAction):
            continue
        done = executed.get(a.plan_id) if a.plan_id else None
        outcome = None
        if done is not None:
            outcome = f"{'executed' if done.executed else 'not executed'}: {done.reason}"
        out.append(
            {
                "action_id": a.action_id,
                "user": a.user,
                "role": a.role,
                "action": a.action,
                "symbol": a.symbol,
                "params": dict(a.params),
                "result": a.result,
                "detail": a.detail,
                "plan_id": a.plan_id,
                "execution": outcome,
                "at_iso": iso_or_none(a.ts_event),
                "entry_id": entry_id,
            }
        )
    return out
