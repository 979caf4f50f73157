"""Every stream name and key pattern, in one place (FAILURES #6, #17, #25).

Each key has exactly one Redis type forever (FAILURES #9) and one writer; the table
``KEY_TYPES`` records both so a test can check that no code writes a key with another
type. Names follow the original system so its operators recognise them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from quantum_trader.decide.shards import shard_of

STREAM_NAMES = (
    "market",
    "trade.intent",
    "apply.plan",
    "apply.exit",
    "apply.result",
    "fills",
    "events",
    "dead",
    "audit",
    "notify.failed",
)
# With ``sharding.shards`` > 1 each of these is also one stream per symbol shard,
# ``apply.plan.{shard}`` / ``apply.exit.{shard}`` (``Keys.entry_lane`` / ``exit_lane``).
SHARDED_STREAMS = ("apply.plan", "apply.exit")
_SHARD_LANE = re.compile(r"(apply\.plan|apply\.exit)\.(\d{1,3}|\{shard\})")

# pattern (without prefix) -> (redis type, writer)
KEY_TYPES: dict[str, tuple[str, str]] = {
    **{f"stream:{name}": ("stream", "see DESIGN.md §3") for name in STREAM_NAMES},
    "stream:apply.plan.{shard}": ("stream", "intent-bridge (entry plans of one symbol shard)"),
    "stream:apply.exit.{shard}": ("stream", "exit-brain (exit plans of one symbol shard)"),
    "position:{symbol}": ("hash", "ledger"),
    "positions": ("set", "ledger"),
    "ledger:fills:{symbol}": ("set", "ledger"),
    "ledger:closed:{symbol}": ("hash", "ledger (trade id -> the position that fill closed)"),
    "cooldown:open:{symbol}": ("string", "apply-layer; the ledger service on a close"),
    "inflight:{symbol}": ("string", "apply-layer"),
    "plan:done:{plan_id}": ("string", "apply-layer"),
    "risk:state": ("string", "risk-guard"),
    "sizing:basis": ("hash", "market feed (the account each bar's entries are sized from)"),
    "reconcile:last": ("string", "position-monitor (market ms of its last completed round)"),
    "risk:kill_switch": ("string", "operator (quantum kill-switch)"),
    "risk:supervisor": ("string", "supervisor"),
    "risk:circuit": ("string", "supervisor circuit breaker; cleared by an operator"),
    "health:{service}": ("string", "every service (its own key)"),
    "bus:failures": ("hash", "bus"),
    "exit:reasons": ("hash", "apply-layer (exit order client id -> reason)"),
    "exit:latency": ("hash", "apply-layer (exit order client id -> trigger-to-order ms)"),
    "effect:{effect_id}": ("string", "bus idempotency"),
    "consumer:alive:{group}:{consumer}": ("string", "each consumer's runtime (TTL: its heartbeat)"),
    "fence": ("string", "apply-layer (fencing token counter of entry reservations)"),
    "durability:fence": ("string", "apply-layer (the write a WAIT counts replicas from; TTL)"),
    "epoch": ("string", "the system's bootstrap (its state marker; see ops/safety_state.py)"),
    "model:state": ("string", "signal-engine (the model in service: id, drift, decay, entries)"),
    "pause:entries:{symbol}": (
        "string",
        "operator (dashboard): entries paused until a market time",
    ),
    "dashboard:action:{action_id}": (
        "string",
        "dashboard (one operator action per idempotency key)",
    ),
    "notify:sent:{target_event}": ("string", "notifier (an event claimed for one target; TTL)"),
    "notify:outbox:{target}": ("list", "notifier (events waiting to be sent to one target)"),
    "notify:stats": ("hash", "notifier (sent / failed / retried / deduplicated, per target)"),
    "notify:services": ("hash", "notifier (each watched service: alive or dead, and since)"),
    "notify:summary_day": ("string", "notifier (the last market day it summarised)"),
    "shard:{service}:{shard}": (
        "string",
        "the shard's owner ({owner, token}, PX sharding.lease_ms; services/shard_lease.py)",
    ),
    "shard:{service}:token": ("string", "shard leases (fencing token counter of one service)"),
    "shard:{service}:{shard}:want": (
        "string",
        "shard leases (a process preferring the shard asks its covering owner for it; TTL)",
    ),
}


@dataclass(frozen=True, slots=True)
class Keys:
    """Key and stream names under a prefix (default ``quantum:``)."""

    prefix: str = "quantum:"

    def stream(self, name: str) -> str:
        """A stream's key; besides ``STREAM_NAMES``, a sharded lane (``apply.plan.3``, or
        its pattern ``apply.plan.{shard}`` as the catalogue writes it)."""
        if name not in STREAM_NAMES and not _SHARD_LANE.fullmatch(name):
            raise KeyError(f"unknown stream {name!r}; known: {', '.join(STREAM_NAMES)}")
        return f"{self.prefix}stream:{name}"

    @property
    def market(self) -> str:
        return self.stream("market")

    @property
    def trade_intent(self) -> str:
        return self.stream("trade.intent")

    @property
    def apply_plan(self) -> str:
        return self.stream("apply.plan")

    @property
    def apply_exit(self) -> str:
        """Exit plans' own lane, read before entries so an entry storm cannot delay them."""
        return self.stream("apply.exit")

    def apply_plan_shard(self, shard: int) -> str:
        """The entry lane of symbol shard ``shard`` (``sharding.shards`` > 1)."""
        return self.stream(f"apply.plan.{shard}")

    def apply_exit_shard(self, shard: int) -> str:
        """The exit lane of symbol shard ``shard`` (``sharding.shards`` > 1)."""
        return self.stream(f"apply.exit.{shard}")

    def entry_lane(self, symbol: str, shards: int) -> str:
        """Where an entry plan for ``symbol`` goes: ``apply.plan`` unsharded, else its
        shard's lane."""
        return self.apply_plan if shards == 1 else self.apply_plan_shard(shard_of(symbol, shards))

    def exit_lane(self, symbol: str, shards: int) -> str:
        """Where an exit plan for ``symbol`` goes: ``apply.exit`` unsharded, else its
        shard's lane."""
        return self.apply_exit if shards == 1 else self.apply_exit_shard(shard_of(symbol, shards))

    @property
    def apply_result(self) -> str:
        return self.stream("apply.result")

    @property
    def fills(self) -> str:
        return self.stream("fills")

    @property
    def events(self) -> str:
        return self.stream("events")

    @property
    def dead(self) -> str:
        return self.stream("dead")

    @property
    def audit(self) -> str:
        """Every operator action taken through the dashboard: who, what, when, result."""
        return self.stream("audit")

    def position(self, symbol: str) -> str:
        return f"{self.prefix}position:{symbol}"

    @property
    def positions(self) -> str:
        """Set of symbols with an open position in the ledger."""
        return f"{self.prefix}positions"

    def ledger_fills(self, symbol: str) -> str:
        """Trade ids already folded into the ledger (fill-id dedupe)."""
        return f"{self.prefix}ledger:fills:{symbol}"

    def ledger_closed(self, symbol: str) -> str:
        """Positions closed by a fill, by trade id, whoever folded it (for the journal)."""
        return f"{self.prefix}ledger:closed:{symbol}"

    @property
    def risk_kill_switch(self) -> str:
        return f"{self.prefix}risk:kill_switch"

    @property
    def risk_supervisor(self) -> str:
        return f"{self.prefix}risk:supervisor"

    @property
    def risk_circuit(self) -> str:
        return f"{self.prefix}risk:circuit"

    def cooldown_open(self, symbol: str) -> str:
        return f"{self.prefix}cooldown:open:{symbol}"

    def inflight(self, symbol: str) -> str:
        return f"{self.prefix}inflight:{symbol}"

    def plan_done(self, plan_id: str) -> str:
        return f"{self.prefix}plan:done:{plan_id}"

    @property
    def risk_state(self) -> str:
        return f"{self.prefix}risk:state"

    def health(self, service: str) -> str:
        return f"{self.prefix}health:{service}"

    @property
    def bus_failures(self) -> str:
        return f"{self.prefix}bus:failures"

    @property
    def sizing_basis(self) -> str:
        return f"{self.prefix}sizing:basis"

    @property
    def reconcile_last(self) -> str:
        return f"{self.prefix}reconcile:last"

    @property
    def exit_reasons(self) -> str:
        return f"{self.prefix}exit:reasons"

    @property
    def exit_latency(self) -> str:
        return f"{self.prefix}exit:latency"

    def effect(self, effect_id: str) -> str:
        return f"{self.prefix}effect:{effect_id}"

    def consumer_alive(self, group: str, consumer: str) -> str:
        """Present while ``consumer`` of ``group`` beats (a dead or stopped process's
        key expires within one heartbeat TTL)."""
        return f"{self.prefix}consumer:alive:{group}:{consumer}"

    @property
    def epoch(self) -> str:
        """The system's state marker: gone or another's means Redis lost our state."""
        return f"{self.prefix}epoch"

    @property
    def model_state(self) -> str:
        return f"{self.prefix}model:state"

    def pause_entries(self, symbol: str) -> str:
        """An operator's lock on new entries for ``symbol``: JSON with the market time
        (``until``, ms) it ends; the entry gate reads it, exits never do."""
        return f"{self.prefix}pause:entries:{symbol}"

    def dashboard_action(self, action_id: str) -> str:
        """The outcome of the operator action with idempotency key ``action_id``."""
        return f"{self.prefix}dashboard:action:{action_id}"

    @property
    def notify_failed(self) -> str:
        """Notifications given up on: one dead-letter record each, with the reason."""
        return self.stream("notify.failed")

    def notify_sent(self, target: str, event_key: str) -> str:
        """Claimed while an event is (or was) sent to ``target``: SET NX with the dedup
        window as TTL, so a redelivery or a restart sends it once."""
        return f"{self.prefix}notify:sent:{target}:{event_key}"

    def notify_outbox(self, target: str) -> str:
        return f"{self.prefix}notify:outbox:{target}"

    @property
    def notify_stats(self) -> str:
        return f"{self.prefix}notify:stats"

    @property
    def notify_services(self) -> str:
        return f"{self.prefix}notify:services"

    @property
    def notify_summary_day(self) -> str:
        return f"{self.prefix}notify:summary_day"

    def shard(self, service: str, shard: int) -> str:
        """The lease of ``service``'s symbol shard ``shard``: ``{owner, token}`` while a
        process holds it (PX ``sharding.lease_ms``, renewed by its owner)."""
        return f"{self.prefix}shard:{service}:{shard}"

    def shard_token(self, service: str) -> str:
        """Fencing token counter of ``service``'s shard leases (INCR on every grant)."""
        return f"{self.prefix}shard:{service}:token"

    def shard_want(self, service: str, shard: int) -> str:
        """Set (with a TTL) by a process that prefers ``shard`` while another covers it."""
        return f"{self.prefix}shard:{service}:{shard}:want"

    @property
    def fence(self) -> str:
        return f"{self.prefix}fence"

    @property
    def durability_fence(self) -> str:
        """Written right before a ``WAIT``, on the WAIT's own connection: WAIT counts the
        replicas holding that connection's last write, so this one stands for every
        write the server executed before it, whichever connection made them."""
        return f"{self.prefix}durability:fence"

    def expected_type(self, key: str) -> str | None:
        """The one Redis type ``key`` may have, or None if it is not ours."""
        if not key.startswith(self.prefix):
            return None
        rest = key[len(self.prefix) :]
        for pattern, (redis_type, _writer) in KEY_TYPES.items():
            head = pattern.split("{", 1)[0]
            if ("{" in pattern and rest.startswith(head)) or rest == pattern:
                return redis_type
        return None
