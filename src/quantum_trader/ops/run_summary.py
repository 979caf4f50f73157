"""What a run did, measured from the exchange's own history and the streams.

The keys are the ones ``quantum run --json`` documents: mode, market_hours, symbols,
entries, exits_by_reason, skipped_by_reason, starting_balance, ending_equity,
realized_pnl, fees, funding, net_pnl, open_positions, dead_letters, restarts,
reconcile_repairs, invariants, trades, models.

Money comes from the venue's own account (USDT, decimal strings) in the words every
summary uses: ``starting_balance``, ``ending_equity`` (wallet + unrealized PnL at the
end), ``realized_pnl`` (gross, booked on closing fills), ``fees``, ``funding``
(+ received, − paid) and ``net_pnl`` = realized − fees + funding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.bus.redis_transport import stream_messages
from quantum_trader.bus.schemas import ApplyResult, Plan
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.ops import invariants
from quantum_trader.runtime.supervisor import Supervisor
from quantum_trader.services.intent_bridge import rejected_by_reason
from quantum_trader.services.journal import AccountMark
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.model_serving import models_served


@dataclass
class RunSummary:
    mode: str
    market_hours: float
    symbols: list[str]
    entries: int
    exits_by_reason: dict[str, int]
    skipped_by_reason: dict[str, int]
    starting_balance: str
    ending_equity: str
    realized_pnl: str
    fees: str
    funding: str  # + received, − paid
    net_pnl: str  # realized − fees + funding
    open_positions: int
    dead_letters: int
    restarts: int
    reconcile_repairs: int
    invariants: dict[str, Any]
    # Signals the intent bridge refused before any plan (low confidence, a sizing cap…).
    intents_rejected_by_reason: dict[str, int] = field(default_factory=dict)
    # What this run was and how it ended (set by the run, after ``summarise``).
    run_id: str = ""
    stopped_early: str | None = None  # why it ended before its last bar; None: it did not
    market_minutes_run: int = 0
    request_weight_peak: int = 0  # the most request weight one minute used at the venue
    funding_source: str = ""  # the funding rates the venue settled (``quantum backtest``'s words)
    mark_source: str = ""  # the mark price the venue walked: files, synthetic or the last price
    # Closed positions in the backtest's trade format (``quantum backtest --json``).
    trades: list[dict[str, Any]] = field(default_factory=list)
    # The signal models that scored the bars, in the order they went live (model strategy).
    models: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def violations(self) -> int:
        """Invariant breaches in this run (an unprotected stretch counts above 60 s)."""
        inv = self.invariants
        counted = (
            "duplicate_entries",
            "ledger_mismatches",
            "unexecuted_exits",
            "reduce_only_growth",
        )
        unprotected = float(inv["max_unprotected_seconds"]) > 60
        return sum(int(inv[k]) for k in counted) + int(unprotected)


def venue_money(core: MatchingCore, now: int) -> AccountMark:
    """The simulated venue's account figures: its ledger of cash flows and its equity."""
    ledger, account = core.ledger(), core.account()
    return AccountMark(
        ts=now,
        starting_balance=Decimal(core.config.starting_balance),
        wallet_balance=account.wallet_balance,
        ending_equity=account.margin_balance,
        realized_pnl=Decimal(ledger.realized_pnl),
        fees=Decimal(ledger.commission),
        funding=Decimal(ledger.funding),
    )


async def summarise(
    parts: SystemParts, supervisor: Supervisor, core: MatchingCore, *, hours: float, mode: str
) -> RunSummary:
    """``core`` is the simulated venue's own book of record (ground truth)."""
    history = core.history()
    fills, orders = list(history.fills), list(core.all_orders())
    now = parts.clock.now_ms()
    results = [
        r
        for r in await stream_messages(parts.redis, parts.bus.keys.apply_result)
        if isinstance(r, ApplyResult)
    ]
    exit_plans = [
        p
        for p in await stream_messages(parts.redis, parts.bus.keys.apply_exit)
        if isinstance(p, Plan)
    ]
    answered = {r.plan_id for r in results}
    ledger = {
        p.symbol: (p.side.value, p.qty)
        for p in await RedisLedger(parts.redis, parts.bus.keys).all()
    }
    models = await models_served(parts.redis, parts.bus.keys)
    positions = list(core.positions())
    unprotected_ms, _ = invariants.max_unprotected_ms(fills, orders, now)
    entry_orders = {f.client_order_id for f in fills if is_entry(f.client_order_id)}
    money = venue_money(core, now)
    await parts.journal.record_account(money)  # for `quantum status` after the run
    metrics = parts.journal.harvest_metrics()
    return RunSummary(
        mode=mode,
        market_hours=hours,
        symbols=list(parts.symbols),
        entries=len(entry_orders),
        exits_by_reason=dict(sorted(metrics.closes_by_reason.items())),
        skipped_by_reason=dict(
            sorted(Counter(r.reason for r in results if not r.executed).items())
        ),
        intents_rejected_by_reason=dict(
            sorted((await rejected_by_reason(parts.redis, parts.bus.keys)).items())
        ),
        starting_balance=fmt(money.starting_balance),
        ending_equity=fmt(money.ending_equity),
        realized_pnl=fmt(money.realized_pnl),
        fees=fmt(money.fees),
        funding=fmt(money.funding),
        net_pnl=fmt(money.net_pnl),
        open_positions=sum(1 for p in positions if p.qty > 0),
        dead_letters=int(await parts.redis.xlen(parts.bus.keys.dead)),
        restarts=supervisor.restarts,
        reconcile_repairs=sum(sum(m.repairs.values()) for m in parts.monitors),
        invariants={
            "duplicate_entries": len(invariants.duplicate_entries(fills)),
            "max_unprotected_seconds": round(unprotected_ms / 1000, 3),
            "ledger_mismatches": len(invariants.ledger_mismatches(ledger, positions)),
            "unexecuted_exits": sum(1 for p in exit_plans if p.plan_id not in answered),
            "reduce_only_growth": len(invariants.reduce_only_growth(fills)),
        },
        models=models,
    )
