"""Each view of the dashboard: its title, the topics that refresh it, and what it reads.

A view's loader returns the template's data; the same data is the JSON API's answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quantum_trader.bus.schemas import ApplyResult
from quantum_trader.config import flatten_settings
from quantum_trader.dashboard import journal_view, reads
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.live import LiveState
from quantum_trader.domain.enums import PlanAction
from quantum_trader.domain.money import fmt
from quantum_trader.domain.timefmt import iso_or_none

Loader = Callable[[DashboardContext, LiveState, Mapping[str, str]], Awaitable[dict[str, Any]]]
RISK_KINDS = (
    "risk_mode_changed",
    "circuit_breaker",
    "circuit_breaker_reset",
    "state_lost",
    "state_confirmed",
    "crash_loop",
    "protective_stop_failed",
)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class View:
    name: str
    title: str
    topics: tuple[str, ...]
    load: Loader
    nav: bool = True


def _money(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value.quantize(CENT))


async def overview(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    risk = await reads.risk(ctx)
    book = await reads.positions(ctx, live)
    svc = await reads.services(ctx)
    money = await ctx.in_journal(journal_view.money, ctx.now()) or {}
    realized_total = money.get("realized_total", Decimal(0)) + Decimal(book["realized_open"])
    realized_today = money.get("realized_today", Decimal(0)) + Decimal(book["realized_open"])
    unreal: Decimal = book["unrealized_decimal"]
    equity = live.equity[-1][1] if live.equity else None
    limits = ctx.settings.risk
    gross: Decimal = book["gross_decimal"]
    cap = equity * limits.max_gross_exposure_ratio if equity else None
    start = money.get("starting_balance")
    curve = [
        {"time": t // 1000, "equity": float(e), "available": float(a)} for t, e, a in live.equity
    ]
    balance = [
        {"time": t // 1000, "value": float((start or Decimal(0)) + v)}
        for t, v in money.get("curve", [])
    ]
    results = []
    for _, r in await reads.messages(ctx, ctx.keys.apply_result, 12):
        if isinstance(r, ApplyResult):
            results.append(reads.result_row(r))
    return {
        "risk": risk,
        "positions": book,
        "services": svc["services"],
        "unhealthy": [s["service"] for s in svc["services"] if not s.get("healthy")],
        "dead_letters": svc["dead_letters"],
        "equity": _money(equity),
        "available": _money(live.equity[-1][2]) if live.equity else None,
        "realized_today": _money(realized_today),
        "realized_total": _money(realized_total),
        "unrealized": _money(unreal),
        "net_today": _money(realized_today + unreal),
        "net_total": _money(realized_total + unreal),
        "gross_exposure": _money(gross),
        "gross_cap": _money(cap),
        "gross_cap_abs": fmt(ctx.settings.gate.max_gross_exposure),
        "exposure_pct": f"{gross / cap * 100:.1f}" if cap else None,
        "open_positions": book["count"],
        "max_positions": min(limits.max_open_positions, ctx.settings.gate.max_open_positions),
        "curve": curve,
        "balance_curve": balance,
        "results": results,
        "now_iso": iso_or_none(ctx.now()),
    }


async def positions(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    book = await reads.positions(ctx, live)
    risk = await reads.risk(ctx)
    paused = {p["symbol"] for p in risk["pauses"] if p["active"]}
    return {**book, "paused": sorted(paused), "risk": risk}


async def orders(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    return await reads.orders(ctx)


async def chart(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    symbols = sorted(live.bars) or sorted(ctx.instruments)
    book = await reads.positions(ctx, live)
    held = [p["symbol"] for p in book["positions"]]
    symbol = (q.get("symbol") or (held[0] if held else (symbols[0] if symbols else ""))).upper()
    position = next((p for p in book["positions"] if p["symbol"] == symbol), None)
    return {"symbol": symbol, "symbols": symbols, "held": held, "position": position}


async def harvest(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    metrics = await ctx.in_journal(journal_view.harvest) or {}
    proposed, executed = 0, 0
    skipped: Counter[str] = Counter()
    for _, r in await reads.messages(ctx, ctx.keys.apply_result, 20_000):
        if isinstance(r, ApplyResult) and r.action.close_fraction is not None:
            proposed += 1
            executed += r.executed
            if not r.executed:
                skipped[r.reason] += 1
    stop_moves = 0
    for _, r in await reads.messages(ctx, ctx.keys.apply_result, 20_000):
        if isinstance(r, ApplyResult) and r.action is PlanAction.UPDATE_STOP and r.executed:
            stop_moves += 1
    return {
        "metrics": metrics,
        "exit_plans": proposed,
        "exits_executed": executed,
        "close_rate": f"{executed / proposed * 100:.1f}" if proposed else None,
        "exits_not_executed": dict(skipped),
        "stop_moves": stop_moves,
    }


async def services(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    return await reads.services(ctx)


async def risk(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    return {"risk": await reads.risk(ctx), "history": await reads.events(ctx, RISK_KINDS)}


async def repairs(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    found = await reads.events(ctx, ("reconcile_repair",), limit=500)
    return {"repairs": found, "by_kind": Counter(r["evidence"].get("repair", "?") for r in found)}


async def dead(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    letters = await reads.dead_letters(ctx)
    return {"letters": letters, "by_reason": Counter(d["reason"].split(":")[0] for d in letters)}


async def journal(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    symbol, month = q.get("symbol", "").upper(), q.get("month", "")
    rows = await ctx.in_journal(journal_view.closed_rows, symbol, month)
    split = await ctx.in_journal(journal_view.breakdowns) or {"all": {}, "symbol": {}, "month": {}}
    return {
        "rows": (rows or [])[:500],
        "total": len(rows or []),
        "breakdowns": split,
        "symbol": symbol,
        "month": month,
        "has_journal": rows is not None,
    }


async def audit(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    return {"records": await reads.audit(ctx)}


async def settings(ctx: DashboardContext, live: LiveState, q: Mapping[str, str]) -> dict[str, Any]:
    rows = [(name, value) for name, value in flatten_settings(ctx.settings.masked())]
    return {"rows": rows, "namespace": ctx.keys.prefix, "run_id": ctx.run_id}


VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View(
            "overview",
            "Overview",
            ("positions", "risk", "overview", "services", "results"),
            overview,
        ),
        View("positions", "Positions", ("positions", "risk"), positions),
        View("orders", "Orders", ("orders", "positions"), orders),
        View("chart", "Chart", ("positions",), chart),
        View("harvest", "Harvest", ("journal", "results"), harvest),
        View("services", "Services", ("services",), services),
        View("risk", "Risk", ("risk", "events"), risk),
        View("repairs", "Repairs", ("events",), repairs),
        View("dead", "Dead letters", ("dead",), dead),
        View("journal", "Journal", ("journal",), journal),
        View("audit", "Audit", ("audit",), audit),
        View("settings", "Settings", (), settings),
    )
}
