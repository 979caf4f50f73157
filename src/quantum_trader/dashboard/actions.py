"""The operator's actions, safe by construction.

Each goes through the path the system already has, never to the exchange:

* **kill switch on / off** — ``risk:kill_switch`` in every namespace of the target, and
  its durable copy in the data directory, exactly as ``quantum kill-switch`` writes it;
  the entry gate halts entries while it exists, the risk guard reports it;
* **pause / resume entries for a symbol** — ``pause:entries:{SYMBOL}``, a lock holding
  the market time it ends, which the entry gate checks (``symbol_paused``); exits go on;
* **close a position** (25 / 50 / 75 / 100 %) and **move its stop tighter** — an exit
  plan on the exit lane (``apply.exit``), like the exit brain's: the apply layer sizes it
  against the live position, skips it if the position is gone or another one
  (``no_position`` / ``stale_position``), records one result;
* **reset the breaker** — ``risk:circuit`` cleared with its durable copy and a
  ``circuit_breaker_reset`` event, as ``quantum kill-switch reset-breaker`` does.

Every request carries an idempotency key: the first claims ``dashboard:action:{key}``
(SET NX) and does the thing, a repeat gets the first one's outcome (a double click does
one thing); the exit plan's id is derived from the key too, so the apply layer would
execute it once even if it were sent twice. Every action — done, refused or forbidden —
is one ``OperatorAction`` on the audit stream: who, what, when, result.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from quantum_trader.bus.codec import encode
from quantum_trader.bus.idempotency import RedisEffectStore, StreamAdd
from quantum_trader.bus.schemas import OperatorAction, Plan, derive_id
from quantum_trader.dashboard.auth import Principal
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.dashboard.live import LiveState
from quantum_trader.dashboard.stops import StopRefused, checked_stop
from quantum_trader.decide import reasons
from quantum_trader.domain.enums import PlanAction, PlanKind
from quantum_trader.domain.money import fmt
from quantum_trader.domain.timefmt import iso_or_none
from quantum_trader.runtime.safety_state import SafetyStore, operator_event
from quantum_trader.services.ledger import RedisLedger

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
ACTION_TTL_MS = 7 * 86_400_000
PLAN_TTL_MS = 60_000
PAUSE_CLEANUP_MS = 3_600_000  # the lock key outlives its end by this much real time
CLOSE_ACTIONS = {
    "25": PlanAction.PARTIAL_25,
    "50": PlanAction.PARTIAL_50,
    "75": PlanAction.PARTIAL_75,
    "100": PlanAction.FULL_CLOSE,
}
ACTIONS = (
    "kill_switch_on",
    "kill_switch_off",
    "pause_entries",
    "resume_entries",
    "close",
    "move_stop",
    "reset_breaker",
)


class Refused(Exception):
    """The action cannot be done as asked; the message says why (nothing was done)."""


class BadKey(ValueError):
    """An idempotency key that is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: str
    key: str  # the idempotency key
    symbol: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        return json.dumps([self.action, self.symbol, dict(sorted(self.params.items()))])


@dataclass
class Operator:
    ctx: DashboardContext
    live: LiveState

    async def perform(self, who: Principal, request: ActionRequest) -> dict[str, Any]:
        """Do ``request`` once for its key; the outcome (also for a repeat)."""
        if request.action not in ACTIONS:
            raise Refused(f"unknown action {request.action!r}; one of {', '.join(ACTIONS)}")
        if not KEY_PATTERN.match(request.key):
            raise BadKey("an idempotency key of 16-128 letters, digits, '-' or '_' is required")
        if not who.may_act:
            await self._audit(who, request, "forbidden", "read-only user", "")
            return self._outcome(request, "forbidden", "read-only user: actions need admin")
        slot = self.ctx.keys.dashboard_action(request.key)
        claim = {"state": "pending", "fingerprint": request.fingerprint(), "user": who.user}
        if not await self.ctx.redis.set(slot, json.dumps(claim), nx=True, px=ACTION_TTL_MS):
            return await self._earlier(slot, request)
        plan_id = ""
        try:
            detail, plan_id = await self._do(who, request)
            outcome = self._outcome(request, "accepted", detail, plan_id)
        except Refused as exc:
            outcome = self._outcome(request, "refused", str(exc))
        stored = {**claim, "state": "done", "outcome": outcome}
        await self.ctx.redis.set(slot, json.dumps(stored), px=ACTION_TTL_MS)
        await self._audit(who, request, outcome["result"], outcome["detail"], plan_id)
        return outcome

    async def _earlier(self, slot: str, request: ActionRequest) -> dict[str, Any]:
        raw = await self.ctx.redis.get(slot)
        earlier = json.loads(raw) if raw else {}
        if earlier.get("fingerprint") != request.fingerprint():
            raise Refused("this idempotency key was used for another action; use a fresh one")
        if earlier.get("state") != "done":
            return {
                **self._outcome(request, "pending", "the same request is in progress"),
                "replayed": True,
            }
        return {**earlier["outcome"], "replayed": True}

    def _outcome(
        self, request: ActionRequest, result: str, detail: str, plan_id: str = ""
    ) -> dict[str, Any]:
        return {
            "action_id": request.key,
            "action": request.action,
            "symbol": request.symbol,
            "result": result,
            "detail": detail,
            "plan_id": plan_id,
            "replayed": False,
            "at_iso": iso_or_none(self.ctx.now()),
        }

    async def _audit(
        self, who: Principal, request: ActionRequest, result: str, detail: str, plan_id: str
    ) -> None:
        now = self.ctx.now()
        record = OperatorAction(
            msg_id=derive_id("audit", request.key, result, now, who.user),
            correlation_id=request.params.get("position_id", ""),
            ts_event=now,
            ts_init=now,
            source="dashboard",
            action_id=request.key,
            user=who.user,
            role=who.role.value,
            action=request.action,
            symbol=request.symbol,
            params=dict(request.params),
            result=result,
            detail=detail,
            plan_id=plan_id,
        )
        await self.ctx.redis.xadd(
            self.ctx.keys.audit,
            {"msg": encode(record)},
            maxlen=self.ctx.settings.stream_maxlen,
            approximate=True,
        )

    # -- the actions -----------------------------------------------------------------

    async def _do(self, who: Principal, request: ActionRequest) -> tuple[str, str]:
        """(what was done, the exit plan id if one was sent)."""
        a, p = request.action, request.params
        if a == "kill_switch_on":
            return await self._kill_switch(who, _reason(p)), ""
        if a == "kill_switch_off":
            return await self._kill_switch(who, None), ""
        if a == "reset_breaker":
            return await self._reset_breaker(who, _reason(p)), ""
        symbol = self._symbol(request.symbol)
        if a == "pause_entries":
            return await self._pause(who, symbol, p), ""
        if a == "resume_entries":
            removed = await self.ctx.redis.delete(self.ctx.keys.pause_entries(symbol))
            return (f"entries on {symbol} resumed" if removed else f"{symbol} was not paused"), ""
        return await self._exit(who, request, symbol)

    def _symbol(self, symbol: str) -> str:
        symbol = symbol.strip().upper()
        if not re.fullmatch(r"[A-Z0-9]{2,30}", symbol):
            raise Refused(f"{symbol!r} is not a symbol")
        return symbol

    async def _kill_switch(self, who: Principal, reason: str | None) -> str:
        redis = self.ctx.redis
        if reason is None:
            removed = sum([await redis.delete(k.risk_kill_switch) for k in self.ctx.control])
            await self._durably(kill_switch=None)
            return "kill switch OFF" if removed else "kill switch was not engaged"
        value = {"reason": reason, "at": self.ctx.now(), "by": who.user}
        for keys in self.ctx.control:
            await redis.set(keys.risk_kill_switch, json.dumps(value))
        await self._durably(kill_switch=value)
        return f"kill switch ON: {reason} (new entries blocked; exits go on)"

    async def _durably(self, **changes: Any) -> None:
        """The data directory's copy, as `quantum kill-switch` keeps it; a failure to
        write it is said, never fatal (the key in Redis already holds)."""
        for keys in self.ctx.control:
            store = SafetyStore(self.ctx.settings.data_dir, keys.prefix)
            try:
                await asyncio.to_thread(store.update, **changes)
            except OSError as exc:
                raise Refused(f"done in Redis, but its durable copy failed: {exc}") from None

    async def _reset_breaker(self, who: Principal, reason: str) -> str:
        keys, redis = self.ctx.keys, self.ctx.redis
        raw = await redis.get(keys.risk_circuit)
        await redis.delete(keys.risk_circuit)
        store = SafetyStore(self.ctx.settings.data_dir, keys.prefix)
        await asyncio.to_thread(store.update, circuit=None)
        if raw is None:
            return "circuit breaker was not tripped"
        try:
            evidence = json.loads(raw)
        except ValueError:
            evidence = {}
        event = operator_event(
            "circuit_breaker_reset",
            self.ctx.now(),
            reason,
            f"cleared by {who.user} (dashboard): {reason}",
            {"tripped_by": str(evidence.get("reason", "")), "user": who.user},
        )
        await redis.xadd(keys.events, {"msg": event})
        return f"circuit breaker cleared ({evidence.get('reason', 'unknown')})"

    async def _pause(self, who: Principal, symbol: str, params: Mapping[str, str]) -> str:
        try:
            minutes = Decimal(params.get("minutes", ""))
        except InvalidOperation:
            raise Refused("minutes must be a number") from None
        limit = self.ctx.settings.dashboard.max_pause_ms
        ms = int(minutes * 60_000) if minutes.is_finite() else 0
        if not 60_000 <= ms <= limit:
            raise Refused(
                f"a pause lasts 1 to {limit // 60_000} minutes, got {params.get('minutes')}"
            )
        now = self.ctx.now()
        lock = {"until": now + ms, "reason": _reason(params), "by": who.user, "at": now}
        key = self.ctx.keys.pause_entries(symbol)
        await self.ctx.redis.set(key, json.dumps(lock), px=ms + PAUSE_CLEANUP_MS)
        return f"entries on {symbol} paused until {iso_or_none(now + ms)} (exits go on)"

    async def _exit(self, who: Principal, request: ActionRequest, symbol: str) -> tuple[str, str]:
        p = request.params
        position = await RedisLedger(self.ctx.redis, self.ctx.keys).read(symbol)
        if position is None:
            raise Refused(f"no open position on {symbol}")
        if position.position_id != p.get("position_id"):
            raise Refused(f"{symbol}'s position is now {position.position_id}, not the one shown")
        stop: Decimal | None = None
        if request.action == "close":
            action = CLOSE_ACTIONS.get(p.get("pct", ""))
            if action is None:
                raise Refused("pct must be 25, 50, 75 or 100")
            codes: tuple[str, ...] = (reasons.OPERATOR_CLOSE,)
            what = f"close {p['pct']} % of {position.side.value} {fmt(position.qty)} {symbol}"
        else:
            action, codes = PlanAction.UPDATE_STOP, (reasons.OPERATOR_STOP,)
            try:
                stop = checked_stop(
                    position,
                    p.get("stop_price", ""),
                    self.live.mark(symbol),
                    self.ctx.instruments.get(symbol),
                    self.ctx.settings.dashboard.stop_min_distance_pct,
                )
            except StopRefused as exc:
                raise Refused(str(exc)) from None
            what = f"move {symbol}'s stop from {fmt(position.stop_price)} to {fmt(stop)}"
        now = self.ctx.now()
        plan_id = derive_id("operator-exit", request.key)
        plan = Plan(
            msg_id=derive_id("exit-plan", plan_id),
            correlation_id=position.position_id,
            causation_id=request.key,
            ts_event=now,
            ts_init=now,
            source="dashboard",
            plan_id=plan_id,
            kind=PlanKind.CLOSE,
            symbol=symbol,
            side=position.side,
            action=action,
            stop_price=stop,
            position_id=position.position_id,
            reason_codes=codes,
            created_at=now,
            expires_at=now + PLAN_TTL_MS,
        )
        effects = RedisEffectStore(self.ctx.redis, self.ctx.keys)
        lane = self.ctx.keys.apply_exit
        await effects.apply_once(
            f"exit-plan:{plan_id}", [StreamAdd(lane, encode(plan), self.ctx.settings.stream_maxlen)]
        )
        return f"{what}: plan sent to the exit lane (by {who.user})", plan_id


def _reason(params: Mapping[str, str]) -> str:
    reason = params.get("reason", "").strip()
    if not reason:
        raise Refused("say why (a reason is required and recorded)")
    return reason[:200]
