"""``quantum status``: services, risk mode and reasons, positions with PnL, stop and ladder
stage, last results and harvest metrics — read from Redis and the trade journal."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.bus.codec import decode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import ApplyResult, Heartbeat, MarketBar
from quantum_trader.config import Settings
from quantum_trader.domain.money import fmt
from quantum_trader.services.ledger import RedisLedger

console = Console()


async def gather(settings: Settings, url: str) -> dict[str, Any]:
    keys = Keys(settings.key_prefix)
    redis = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        services = {}
        async for key in redis.scan_iter(match=keys.health("*")):
            raw = await redis.get(key)
            if raw:
                beat = decode(raw)
                if isinstance(beat, Heartbeat):
                    services[beat.service] = {
                        "status": beat.status,
                        "processed": beat.processed,
                        "failed": beat.failed,
                        "dead_lettered": beat.dead_lettered,
                        "ttl_ms": int(await redis.pttl(key)),
                    }
        risk: dict[str, Any] = {}
        for name, key in (
            ("state", keys.risk_state),
            ("kill_switch", keys.risk_kill_switch),
            ("supervisor", keys.risk_supervisor),
            ("circuit", keys.risk_circuit),
        ):
            raw = await redis.get(key)
            risk[name] = json.loads(raw) if raw else None
        marks = await _last_closes(redis, keys)
        positions = []
        for p in await RedisLedger(redis, keys).all():
            mark = marks.get(p.symbol)
            pnl = (mark - p.entry_price) * p.qty * p.side.sign if mark else None
            positions.append(
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "qty": fmt(p.qty),
                    "entry_price": fmt(p.entry_price),
                    "mark": fmt(mark) if mark else None,
                    "unrealized_pnl": fmt(pnl.quantize(Decimal("0.0001")))
                    if pnl is not None
                    else None,
                    "stop": fmt(p.stop_price),
                    "ladder_stage": p.ladder_stage,
                    "source": p.source,
                }
            )
        results = []
        recent: list[Any] = list(await redis.xrevrange(keys.apply_result, count=10) or [])
        for _, fields in recent:
            r = decode(fields[b"msg"])
            if isinstance(r, ApplyResult):
                results.append(
                    {
                        "plan_id": r.plan_id,
                        "symbol": r.symbol,
                        "action": r.action.value,
                        "executed": r.executed,
                        "reason": r.reason,
                    }
                )
        return {
            "services": services,
            "risk": risk,
            "positions": positions,
            "last_results": results,
            "dead_letters": int(await redis.xlen(keys.dead)),
            "harvest": harvest(settings),
        }
    finally:
        await redis.aclose()


async def _last_closes(redis: aioredis.Redis, keys: Keys) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    bars: list[Any] = list(await redis.xrevrange(keys.market, count=500) or [])
    for _, fields in bars:
        bar = decode(fields[b"msg"])
        if isinstance(bar, MarketBar):
            out.setdefault(bar.symbol, bar.close)
    return out


def harvest(settings: Settings) -> dict[str, Any] | None:
    """Harvest metrics from the trade journal: closes by reason, winners scaled, losers
    cut, average R at exit, trigger-to-order latency."""
    path = settings.data_dir / "journal.sqlite"
    if not path.exists():
        return None
    from quantum_trader.services.journal import Journal

    journal = Journal(f"sqlite:///{path}")
    try:
        m = journal.harvest_metrics()
    finally:
        journal.close()
    return {
        "trades": m.trades,
        "closes_by_reason": m.closes_by_reason,
        "winners_scaled": m.winners_scaled,
        "losers_cut": m.losers_cut,
        "average_r": str(m.average_r) if m.average_r is not None else None,
        "trigger_to_order_ms": m.trigger_to_order_ms,
        "realized_pnl": fmt(m.realized_pnl),
        "fees": fmt(m.fees),
    }


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Services, risk mode, positions with PnL and stops, last results (needs a running system)."""
    from quantum_trader.cli import fail, settings
    from quantum_trader.ops.connect import NoRedis, resolve_redis_url

    s = settings()
    try:
        url = resolve_redis_url(s)
        data = asyncio.run(gather(s, url))
    except NoRedis as exc:
        raise fail(str(exc)) from None
    except (OSError, aioredis.ConnectionError) as exc:
        raise fail(f"cannot reach Redis: {exc}") from None
    if as_json:
        print(json.dumps(data, indent=2))
        return
    _show(data)


def _show(data: dict[str, Any]) -> None:
    state = data["risk"]["state"] or {}
    mode = state.get("mode", "UNKNOWN")
    extra = [n for n in ("kill_switch", "supervisor", "circuit") if data["risk"][n]]
    console.print(
        f"risk mode [bold]{mode}[/] {', '.join(state.get('reasons', []))} "
        f"{'(+ ' + ', '.join(extra) + ')' if extra else ''}"
    )
    services = Table(title="services")
    for col in ("service", "status", "processed", "failed", "dead-lettered", "ttl ms"):
        services.add_column(col)
    for name, s in sorted(data["services"].items()):
        services.add_row(
            name,
            s["status"],
            str(s["processed"]),
            str(s["failed"]),
            str(s["dead_lettered"]),
            str(s["ttl_ms"]),
        )
    console.print(services)
    positions = Table(title="positions")
    for col in ("symbol", "side", "qty", "entry", "mark", "uPnL", "stop", "ladder"):
        positions.add_column(col)
    for p in data["positions"]:
        positions.add_row(
            p["symbol"],
            p["side"],
            p["qty"],
            p["entry_price"],
            str(p["mark"]),
            str(p["unrealized_pnl"]),
            p["stop"],
            str(p["ladder_stage"]),
        )
    console.print(positions)
    results = Table(title="last results")
    for col in ("symbol", "action", "executed", "reason"):
        results.add_column(col)
    for r in data["last_results"]:
        results.add_row(r["symbol"], r["action"], "yes" if r["executed"] else "no", r["reason"])
    console.print(results)
    console.print(f"dead letters: {data['dead_letters']}")
    h = data.get("harvest")
    if h:
        reasons = ", ".join(f"{k} {v}" for k, v in h["closes_by_reason"].items()) or "none"
        console.print(
            f"harvest: {h['trades']} closed ({reasons}); winners scaled {h['winners_scaled']}, "
            f"losers cut {h['losers_cut']}, average R {h['average_r']}, trigger→order "
            f"{h['trigger_to_order_ms']} ms; realized {h['realized_pnl']}, fees {h['fees']}",
            highlight=False,
        )
