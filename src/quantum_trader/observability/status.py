"""``quantum status``: services, risk mode and reasons, positions with PnL, stop and ladder
stage, last results and harvest metrics — read from Redis and the trade journal."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from quantum_trader.bus.codec import decode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import ApplyResult, Heartbeat, MarketBar
from quantum_trader.config import Settings
from quantum_trader.domain.money import fmt
from quantum_trader.domain.timefmt import describe, duration, iso_or_none
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.services.journal import unmarked_money
from quantum_trader.services.ledger import RedisLedger

if TYPE_CHECKING:
    from quantum_trader.services.journal import AccountMark

console = Console()


async def gather(
    settings: Settings, url: str, prefix: str | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """What the system under ``prefix`` (default: the configured one) is doing; the journal
    part is ``run_id``'s (a running paper run) or every run's."""
    keys = Keys(prefix or settings.key_prefix)
    redis = master_client(settings, url, socket_connect_timeout=2)
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
                        "last_beat": beat.ts_event,
                        "last_beat_iso": iso_or_none(beat.ts_event),
                        "started_at": beat.started_at,
                        "started_at_iso": iso_or_none(beat.started_at),
                    }
        risk: dict[str, Any] = {}
        for name, key in (
            ("state", keys.risk_state),
            ("kill_switch", keys.risk_kill_switch),
            ("supervisor", keys.risk_supervisor),
            ("circuit", keys.risk_circuit),
        ):
            raw = await redis.get(key)
            risk[name] = with_iso_times(json.loads(raw)) if raw else None
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
            "namespace": keys.prefix,
            "run_id": run_id,
            "harvest": harvest(settings, run_id),
        }
    finally:
        await redis.aclose()


TIME_FIELDS = ("since", "updated_at", "at")  # epoch-ms fields of the risk keys


def with_iso_times(value: Any) -> Any:
    """A risk key's JSON with ``<field>_iso`` (ISO-8601 UTC) next to each epoch-ms field."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name in TIME_FIELDS:
        if name in value:
            out[f"{name}_iso"] = iso_or_none(value[name])
    return out


def system_running(data: dict[str, Any]) -> bool:
    """Anything alive or ever guarded: a heartbeat key, or a risk state written."""
    return bool(data["services"]) or data["risk"]["state"] is not None


NOT_RUNNING = (
    "no system is running: no service heartbeats and no risk state in Redis "
    "(start one with `quantum run`, or check QUANTUM_REDIS_URL / QUANTUM_KEY_PREFIX)"
)


async def _last_closes(redis: aioredis.Redis, keys: Keys) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    bars: list[Any] = list(await redis.xrevrange(keys.market, count=500) or [])
    for _, fields in bars:
        bar = decode(fields[b"msg"])
        if isinstance(bar, MarketBar):
            out.setdefault(bar.symbol, bar.close)
    return out


def harvest(settings: Settings, run_id: str | None = None) -> dict[str, Any] | None:
    """Harvest metrics from the trade journal: closes by reason, winners scaled, losers
    cut, average R at exit, trigger-to-order latency; and the money (see :func:`money`)."""
    path = settings.data_dir / "journal.sqlite"
    if not path.exists():
        return None
    from quantum_trader.services.journal import Journal

    journal = Journal(f"sqlite:///{path}", run_id=run_id)
    try:
        m = journal.harvest_metrics()
        mark = journal.last_account()
    finally:
        journal.close()
    return {
        "trades": m.trades,
        "closes_by_reason": m.closes_by_reason,
        "winners_scaled": m.winners_scaled,
        "losers_cut": m.losers_cut,
        "average_r": str(m.average_r) if m.average_r is not None else None,
        "trigger_to_order_ms": m.trigger_to_order_ms,
        **money(m.realized_pnl, m.fees, mark),
    }


def money(realized: Decimal, fees: Decimal, mark: AccountMark | None) -> dict[str, Any]:
    """The money keys every summary uses (starting_balance, ending_equity, realized_pnl,
    fees, funding, net_pnl = realized − fees + funding; funding + received, − paid).

    From the venue's account as last journalled (the end of a ``quantum run``) when there
    is such a mark, else from the journal's closed positions: then the balance, equity and
    funding are unknown (null) and ``net_pnl`` is realized − fees, funding left out.
    """
    if mark is not None:
        return {**mark.summary(), "money_source": f"venue account at {iso_or_none(mark.ts)}"}
    return unmarked_money(realized, fees, "journal closed positions (funding not journalled)")


def money_line(h: dict[str, Any]) -> str:
    """The money of ``status`` in the words of every summary."""
    from quantum_trader.services.journal import FUNDING_SIGN

    def shown(key: str) -> str:
        value = h.get(key)
        return "n/a" if value is None else str(value)

    return (
        f"money ({h.get('money_source', 'journal')}): starting balance "
        f"{shown('starting_balance')}, ending equity {shown('ending_equity')}, realized PnL "
        f"{shown('realized_pnl')}, fees {shown('fees')}, funding ({FUNDING_SIGN}) "
        f"{shown('funding')}, net PnL (realized − fees + funding) {shown('net_pnl')}"
    )


def show(data: dict[str, Any], now: int | None = None) -> None:
    """Print ``data``; times as ISO-8601 UTC with their age at ``now`` (default: wall clock)."""
    if now is None:
        from quantum_trader.clock import SystemClock

        now = SystemClock().now_ms()
    if data.get("run_id"):
        console.print(
            f"paper run {data['run_id']} (namespace {data['namespace']}); its times are "
            "market time",
            highlight=False,
        )
    for line in risk_lines(data["risk"], now):
        console.print(line, highlight=False)
    services = Table(title="services")
    for col in ("service", "status", "processed", "failed", "dead-lettered", "last beat", "ttl"):
        services.add_column(col)
    for name, s in sorted(data["services"].items()):
        services.add_row(
            name,
            s["status"],
            str(s["processed"]),
            str(s["failed"]),
            str(s["dead_lettered"]),
            describe(s.get("last_beat"), now),
            duration(s["ttl_ms"]) if s["ttl_ms"] >= 0 else "no expiry",
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
            f"{h['trigger_to_order_ms']} ms",
            highlight=False,
        )
        console.print(money_line(h), highlight=False)


def risk_lines(risk: dict[str, Any], now: int) -> list[str]:
    """The risk header of ``status``: mode, reasons, since when, and every override key."""
    state = risk["state"] or {}
    mode = state.get("mode", "UNKNOWN")
    extra = [n for n in ("kill_switch", "supervisor", "circuit") if risk[n]]
    lines = [
        f"risk mode [bold]{mode}[/] {', '.join(state.get('reasons', []))} "
        f"{'(+ ' + ', '.join(extra) + ')' if extra else ''}".rstrip()
    ]
    if state:
        since = describe(state.get("since"), now, unknown="the risk guard started")
        lines.append(f"  since {since}; updated {describe(state.get('updated_at'), now)}")
    switch, supervisor, circuit = (
        value if isinstance(value, dict) or not value else {"reason": str(value)}
        for value in (risk["kill_switch"], risk["supervisor"], risk["circuit"])
    )
    if switch:
        lines.append(
            f"  kill switch ON: {switch.get('reason', '?')} since {describe(switch.get('at'), now)}"
        )
    if supervisor:
        down = ", ".join(supervisor.get("reasons", [])) or "?"
        lines.append(
            f"  supervisor {supervisor.get('mode', '?')}: {down} "
            f"since {describe(supervisor.get('since'), now)}"
        )
    if circuit:
        lines.append(
            f"  circuit breaker TRIPPED: {circuit.get('reason', '?')} "
            f"at {describe(circuit.get('at'), now)}"
        )
    return lines
