"""Gathers the checker's evidence after a run: the exchange's own order and fill history
(``GET /admin/history``), its positions and symbol filters, the plans, results and dead
letters on the streams, every consumer group's state, and — only for the end-of-run
comparison — the ledger's positions; plus the journal's internal trade statistics."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from quantum_trader.bus.keys import STREAM_NAMES, Keys
from quantum_trader.bus.redis_transport import as_text, stream_messages
from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Plan
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.ops.stepped.checker import Evidence, GroupState
from quantum_trader.ops.stepped.faults import Faults, merged
from quantum_trader.ops.stepped.venue_history import fill_from_json, order_from_json
from quantum_trader.services.ledger import RedisLedger


async def group_states(
    redis: aioredis.Redis, keys: Keys
) -> tuple[list[GroupState], dict[str, str]]:
    groups, last_ids = [], {}
    for name in STREAM_NAMES:
        stream = keys.stream(name)
        try:
            info = await redis.xinfo_stream(stream)
            rows = await redis.xinfo_groups(stream)
        except ResponseError:
            continue
        last_ids[stream] = as_text(info["last-generated-id"])
        for g in rows:
            groups.append(
                GroupState(
                    stream,
                    as_text(g["name"]),
                    int(g["pending"]),
                    as_text(g["last-delivered-id"]),
                )
            )
    return groups, last_ids


def journal_stats(data_dir: Path) -> dict[str, Any]:
    """What the system thinks it traded (closed positions in its journal), net of fees
    like the exchange's figures: a winner is a trade that made money after fees."""
    path = data_dir / "journal.sqlite"
    if not path.exists():
        return {"closed_positions": 0, "net_pnl": "0", "fees": "0", "win_rate": None}
    with sqlite3.connect(path) as db:
        rows = db.execute("select realized_pnl, fees from closed_positions").fetchall()
    pnl = [Decimal(str(p)) - Decimal(str(f)) for p, f in rows]
    wins = sum(1 for p in pnl if p > 0)
    return {
        "closed_positions": len(rows),
        "net_pnl": str(sum(pnl, Decimal(0))),
        "fees": str(sum((Decimal(str(f)) for _, f in rows), Decimal(0))),
        "win_rate": round(wins / len(rows), 4) if rows else None,
    }


async def collect_evidence(
    redis: aioredis.Redis,
    keys: Keys,
    session: aiohttp.ClientSession,
    admin_url: str,
    injector: Faults,
    sim: SimExchange,
    data_dir: Path,
) -> tuple[Evidence, dict[str, Any]]:
    async with session.get(f"{admin_url}/admin/history") as response:
        history = await response.json()
    kept = injector.kept  # what lived in Redis before a state loss
    plans = [
        m
        for stream in (keys.apply_plan, keys.apply_exit)
        for m in await stream_messages(redis, stream)
        if isinstance(m, Plan)
    ]
    plans = merged(kept.plans, plans)
    on_results = await stream_messages(redis, keys.apply_result)
    results = merged(kept.results, [m for m in on_results if isinstance(m, ApplyResult)])
    on_dead = await stream_messages(redis, keys.dead)
    dead = merged(kept.dead, [m for m in on_dead if isinstance(m, DeadLetter)])
    groups, last_ids = await group_states(redis, keys)
    ledger = {
        p.symbol: (p.side.value, p.qty) for p in await RedisLedger(redis, keys).all() if p.qty > 0
    }
    evidence = Evidence(
        orders=[order_from_json(o) for o in history["orders"]],
        fills=[fill_from_json(f) for f in history["fills"]],
        until=int(history["now_ms"]),
        instruments={i.symbol: i for i in sim.core.instruments()},
        plans=plans,
        results=results,
        dead=dead,
        groups=groups,
        last_ids=last_ids,
        garbage=list(injector.garbage),
        hand=list(injector.hand),
        ledger=ledger,
        positions=list(sim.core.positions()),
        halts=list(injector.halts),
    )
    return evidence, journal_stats(data_dir)
