"""What the notifier says, pure of IO: an event of the system (an entry fill, an exit fill
with its reason and PnL, a risk-mode change and its reasons, a breaker trip, another
critical event, a service gone dead or back, the day's summary) becomes one
:class:`Notice` — a title, a line of text and its figures, money as decimal strings —
which ``notify_formats`` turns into each target's body.

Each notice carries ``key``, derived from the event alone (a fill's trade id, an event's
message id, a service's outage start, a day): the same event always has the same key,
which is what the notifier deduplicates on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quantum_trader.alerting.notify_rules import TEST
from quantum_trader.bus.schemas import Event, FillEvent
from quantum_trader.config import NotifyKind
from quantum_trader.domain.enums import Side
from quantum_trader.domain.money import fmt
from quantum_trader.domain.order_ids import is_entry, is_exit, is_stop
from quantum_trader.domain.timefmt import duration, iso_utc

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell: what kind, when (epoch ms, the system's clock), how serious, a
    title, one line of text and its figures in order (every value a string)."""

    key: str
    kind: str  # a NotifyKind value, or "test"
    ts: int
    title: str
    text: str
    severity: str = "info"
    symbol: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "ts": self.ts,
            "title": self.title,
            "text": self.text,
            "severity": self.severity,
            "symbol": self.symbol,
            "fields": [list(pair) for pair in self.fields],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notice:
        return cls(
            key=str(data["key"]),
            kind=str(data["kind"]),
            ts=int(data["ts"]),
            title=str(data["title"]),
            text=str(data["text"]),
            severity=str(data.get("severity", "info")),
            symbol=str(data.get("symbol", "")),
            fields=tuple((str(k), str(v)) for k, v in data.get("fields", ())),
        )


def _severity(value: str) -> str:
    return value if value in SEVERITIES else "info"


def exit_reason(client_order_id: str, planned: str | None) -> str:
    """Why a fill reduced a position: the label the apply layer recorded for its order
    (``exit:reasons``), else what the order id says (the journal's words)."""
    if planned:
        return planned
    if is_stop(client_order_id):
        return "stop"
    if client_order_id.startswith("autoclose"):
        return "liquidation"
    return "exit" if is_exit(client_order_id) else "manual"


def opens(fill: FillEvent) -> bool:
    """An entry order's fill, or a fill of an order not ours that reduced nothing."""
    if is_entry(fill.client_order_id):
        return True
    ours_reducing = is_exit(fill.client_order_id) or fill.client_order_id.startswith("autoclose")
    return not (ours_reducing or fill.reduce_only or fill.realized_pnl != 0)


def fill_notice(fill: FillEvent, planned: str | None = None) -> Notice:
    """An entry fill or an exit fill (exit orders, stops, liquidations, a hand on the
    exchange), its reason from ``planned`` (the exit order's recorded label) or its id."""
    notional = fill.price * fill.qty
    base = (
        ("symbol", fill.symbol),
        ("qty", fmt(fill.qty)),
        ("price", fmt(fill.price)),
        ("notional", fmt(notional)),
        ("fee", f"{fmt(fill.commission)} {fill.commission_asset}"),
    )
    key = f"fill:{fill.symbol}:{fill.trade_id}"
    at = iso_utc(fill.ts_event)
    if opens(fill):
        side = "LONG" if fill.side is Side.BUY else "SHORT"
        origin = () if is_entry(fill.client_order_id) else (("origin", "manual"),)
        return Notice(
            key=key,
            kind=NotifyKind.ENTRY.value,
            ts=fill.ts_event,
            title=f"Entry {fill.symbol} {side}",
            text=f"{side} {fmt(fill.qty)} {fill.symbol} @ {fmt(fill.price)} at {at}",
            symbol=fill.symbol,
            fields=(("side", side), *base, ("order", fill.client_order_id), *origin),
        )
    side = "LONG" if fill.side is Side.SELL else "SHORT"  # the side this fill reduced
    reason = exit_reason(fill.client_order_id, planned)
    net = fill.realized_pnl - fill.commission
    won = "+" if net > 0 else ""
    return Notice(
        key=key,
        kind=NotifyKind.EXIT.value,
        ts=fill.ts_event,
        title=f"Exit {fill.symbol} {side}: {reason}",
        text=(
            f"{side} {fmt(fill.qty)} {fill.symbol} closed @ {fmt(fill.price)} ({reason}), "
            f"PnL {won}{fmt(net)} net at {at}"
        ),
        severity="warning" if reason == "liquidation" else "info",
        symbol=fill.symbol,
        fields=(
            ("side", side),
            *base,
            ("reason", reason),
            ("realized_pnl", fmt(fill.realized_pnl)),
            ("net_pnl", fmt(net)),
            ("order", fill.client_order_id),
        ),
    )


def event_kind(event: Event) -> NotifyKind | None:
    """The notice kind of an event on the events stream, or None (not notified)."""
    if event.kind == "risk_mode_changed":
        return NotifyKind.RISK_MODE
    if event.kind in ("circuit_breaker", "circuit_breaker_reset"):
        return NotifyKind.BREAKER
    if event.severity == "critical":
        return NotifyKind.CRITICAL
    return None


def event_notice(event: Event) -> Notice | None:
    """A risk-mode change, a breaker trip or reset, or another critical event."""
    kind = event_kind(event)
    if kind is None:
        return None
    ev = event.evidence
    fields: list[tuple[str, str]] = []
    if kind is NotifyKind.RISK_MODE:
        mode = event.risk_mode.value if event.risk_mode else "?"
        before = ev.get("previous_mode", "")
        reasons = ev.get("reasons", "") or event.detail.partition(": ")[2]
        title = f"Risk mode {mode}" + (" (reasons changed)" if before == mode else "")
        fields = [("mode", mode)]
        fields += [("previous_mode", before)] if before else []
        fields += [("reasons", reasons or "none")]
        fields += [(name, ev[name]) for name in ("added", "removed") if ev.get(name)]
    elif kind is NotifyKind.BREAKER:
        tripped = event.kind == "circuit_breaker"
        check = ev.get("check") or ev.get("tripped_by", "")
        title = f"Circuit breaker {'tripped' if tripped else 'reset'}: {check or event.detail}"
        fields = [("check", check)] if check else []
        fields += [(k, v) for k, v in sorted(ev.items()) if k not in ("check", "tripped_by")]
    else:
        title = f"{event.kind.replace('_', ' ').capitalize()}"
        fields = [("event", event.kind), *sorted(ev.items())]
    fields += [("detail", event.detail)] if event.detail else []
    fields += [("source", event.source)]
    return Notice(
        key=f"event:{event.msg_id}",
        kind=kind.value,
        ts=event.ts_event,
        title=title,
        text=event.detail or title,
        severity=_severity(event.severity),
        symbol=event.symbol,
        fields=_unique([("symbol", event.symbol)] * bool(event.symbol) + fields),
    )


def _unique(fields: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Each field once, where it first appears (evidence may repeat the symbol)."""
    kept: dict[str, tuple[str, str]] = {}
    for pair in fields:
        kept.setdefault(pair[0], pair)
    return tuple(kept.values())


def service_dead_notice(
    service: str, since: int, last_seen: int | None, now: int, exit_path: bool
) -> Notice:
    """``service`` silent since ``since`` (the watcher's clock); ``last_seen``: its last
    running heartbeat, None if never seen."""
    seen = iso_utc(last_seen) if last_seen else "never"
    impact = "exits depend on it: entries stop" if exit_path else "not on the exit path"
    return Notice(
        key=f"service_dead:{service}:{since}",
        kind=NotifyKind.SERVICE_DEAD.value,
        ts=now,
        title=f"Service down: {service}",
        text=f"{service}: no running heartbeat for {duration(now - since)} (last seen {seen})",
        severity="critical" if exit_path else "warning",
        fields=(
            ("service", service),
            ("silent_for", duration(now - since)),
            ("last_seen", seen),
            ("impact", impact),
        ),
    )


def service_recovered_notice(service: str, since: int, now: int) -> Notice:
    """``service`` beats again after being reported dead since ``since``."""
    return Notice(
        key=f"service_recovered:{service}:{since}",
        kind=NotifyKind.SERVICE_RECOVERED.value,
        ts=now,
        title=f"Service recovered: {service}",
        text=f"{service} is running again after {duration(now - since)}",
        fields=(("service", service), ("down_for", duration(now - since))),
    )


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One market day (UTC) of closed positions, and the system at its end."""

    day: str
    trades: int
    wins: int
    realized_pnl: Decimal
    fees: Decimal
    best: Decimal | None
    worst: Decimal | None
    closes_by_reason: Mapping[str, int]
    open_positions: int
    risk_mode: str
    equity: Decimal | None = None

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees


def summary_notice(figures: DayFigures, now: int) -> Notice:
    f = figures
    rate = f"{Decimal(100 * f.wins) / f.trades:.1f}%" if f.trades else "n/a"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(f.closes_by_reason.items())) or "none"
    fields = [
        ("day", f.day),
        ("trades", str(f.trades)),
        ("wins", str(f.wins)),
        ("losses", str(f.trades - f.wins)),
        ("win_rate", rate),
        ("realized_pnl", fmt(f.realized_pnl)),
        ("fees", fmt(f.fees)),
        ("net_pnl", fmt(f.net_pnl)),
        ("best", fmt(f.best) if f.best is not None else "n/a"),
        ("worst", fmt(f.worst) if f.worst is not None else "n/a"),
        ("closes_by_reason", reasons),
        ("open_positions", str(f.open_positions)),
        ("risk_mode", f.risk_mode),
    ]
    fields += [("equity", fmt(f.equity))] if f.equity is not None else []
    return Notice(
        key=f"daily_summary:{f.day}",
        kind=NotifyKind.DAILY_SUMMARY.value,
        ts=now,
        title=f"Daily summary {f.day}",
        text=(
            f"{f.day}: {f.trades} closed, win rate {rate}, net PnL {fmt(f.net_pnl)} "
            f"(fees {fmt(f.fees)}); {f.open_positions} open, risk mode {f.risk_mode}"
        ),
        fields=tuple(fields),
    )


def probe_notice(target: str, kind: str, now: int) -> Notice:
    return Notice(
        key=f"test:{target}:{now}",
        kind=TEST,
        ts=now,
        title="Test notification",
        text=f"quantum notify test: target {target} ({kind}) receives the system's notices",
        fields=(("target", target), ("format", kind)),
    )
