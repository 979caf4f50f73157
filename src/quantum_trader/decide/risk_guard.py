"""Risk mode state machine: NORMAL / REDUCE_ONLY / HALT from account facts and operator input.

Risk mode blocks ENTRIES only; exits always go on (invariant 4). The mode is the most
severe mode among the active reasons, and every change of mode or of the reason set is
emitted as an event, so a blocking mode is never invisible (FAILURES #14).

Every loss counter lives in a time window derived from ``now`` (FAILURES #23): the daily
loss uses the equity at the first snapshot of the current UTC day; the drawdown peak is
tracked within fixed windows of ``drawdown_window_ms`` aligned to the Unix epoch; a losing
streak only counts losses closer together than ``loss_streak_window_ms`` and its lockout
expires by itself. A state restored on a later day or window therefore cannot block.

Severity of each reason (``REASON_SEVERITY``): HALT for ``daily_loss_limit``,
``max_drawdown``, ``kill_switch`` and ``circuit_breaker``; REDUCE_ONLY for the rest,
including ``EQUITY_STALE`` and every ``service_down:<service>``.

Hysteresis (``LATCHED_REASONS``): a limit measured on the account (gross exposure, margin
use, open positions, daily loss, drawdown) trips at its limit but, once active, is released
only when BOTH hold:

  * the measure is back below ``release_ratio`` × its limit (default 0.9: a 3× gross cap
    trips at 3.0× equity and releases below 2.7×; open positions, a count, release below
    the limit itself), and
  * the reason has been active for at least ``min_dwell_ms`` of market time (``now``).

So a position whose mark wobbles around a limit no longer flips the mode every tick. The
window rules still win over the latch: a daily loss of yesterday, or a drawdown of the
previous window, is released at the rollover whatever the dwell (FAILURES #23). Operator
and liveness reasons (kill switch, breaker, ``service_down``, ``EQUITY_STALE``) and the
loss-streak lockout are not latched: they clear the moment their cause does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.config_checks import (
    require_fraction,
    require_non_empty,
    require_non_negative,
    require_positive,
)
from quantum_trader.domain.enums import RiskMode
from quantum_trader.domain.money import ONE, ZERO

DAY_MS = 86_400_000

REASON_SEVERITY: dict[str, RiskMode] = {
    reasons.EQUITY_STALE: RiskMode.REDUCE_ONLY,
    reasons.DAILY_LOSS_LIMIT: RiskMode.HALT,
    reasons.MAX_DRAWDOWN: RiskMode.HALT,
    reasons.CONSECUTIVE_LOSSES: RiskMode.REDUCE_ONLY,
    reasons.MAX_OPEN_POSITIONS: RiskMode.REDUCE_ONLY,
    reasons.MAX_GROSS_EXPOSURE: RiskMode.REDUCE_ONLY,
    reasons.MARGIN_UTILISATION: RiskMode.REDUCE_ONLY,
    reasons.KILL_SWITCH: RiskMode.HALT,
    reasons.CIRCUIT_BREAKER: RiskMode.HALT,
}
_RANK = {RiskMode.NORMAL: 0, RiskMode.REDUCE_ONLY: 1, RiskMode.HALT: 2}

LATCHED_REASONS: frozenset[str] = frozenset(
    {
        reasons.MAX_OPEN_POSITIONS,
        reasons.MAX_GROSS_EXPOSURE,
        reasons.MARGIN_UTILISATION,
        reasons.DAILY_LOSS_LIMIT,
        reasons.MAX_DRAWDOWN,
    }
)


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Limits. Percentages are fractions of equity (0.05 = 5%); durations in ms."""

    equity_max_age_ms: int = 30_000
    daily_loss_limit_pct: Decimal = Decimal("0.05")
    max_drawdown_pct: Decimal = Decimal("0.15")
    drawdown_window_ms: int = 7 * DAY_MS
    consecutive_loss_limit: int = 4
    loss_streak_window_ms: int = DAY_MS
    loss_lockout_ms: int = 60 * 60_000
    max_open_positions: int = 10
    max_gross_exposure_ratio: Decimal = Decimal("3")  # gross notional ÷ equity
    max_margin_utilisation: Decimal = Decimal("0.80")  # initial margin ÷ margin balance
    release_ratio: Decimal = Decimal("0.90")  # a latched limit releases below this × limit
    min_dwell_ms: int = 60_000  # a latched reason stays at least this long (market time)

    def __post_init__(self) -> None:
        require_positive("equity_max_age_ms", self.equity_max_age_ms)
        require_fraction("daily_loss_limit_pct", self.daily_loss_limit_pct)
        require_fraction("max_drawdown_pct", self.max_drawdown_pct)
        require_positive("drawdown_window_ms", self.drawdown_window_ms)
        require_positive("consecutive_loss_limit", self.consecutive_loss_limit)
        require_positive("loss_streak_window_ms", self.loss_streak_window_ms)
        require_positive("loss_lockout_ms", self.loss_lockout_ms)
        require_positive("max_open_positions", self.max_open_positions)
        require_positive("max_gross_exposure_ratio", self.max_gross_exposure_ratio)
        require_fraction("max_margin_utilisation", self.max_margin_utilisation)
        require_fraction("release_ratio", self.release_ratio)
        require_non_negative("min_dwell_ms", self.min_dwell_ms)


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Account facts at ``ts`` (ms): equity (USDT), open positions, gross notional, margin use."""

    equity: Decimal
    open_positions: int
    gross_exposure: Decimal
    margin_utilisation: Decimal
    ts: int


def account_snapshot(
    equity: Decimal, initial_margin: Decimal, open_positions: int, gross: Decimal, ts: int
) -> AccountSnapshot:
    """The snapshot the risk guard steps on, from an account reading: margin utilisation
    is initial margin over equity, and counts as full when there is no equity (fail
    closed). The risk-guard service and the backtester both read the account this way."""
    utilisation = initial_margin / equity if equity > ZERO else ONE
    return AccountSnapshot(equity, open_positions, gross, utilisation, ts)


@dataclass(frozen=True, slots=True)
class TradeClosed:
    """A round trip finished with net ``pnl`` (USDT) at ``ts``."""

    pnl: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Manual kill switch: ``engaged`` True stops entries until switched off."""

    engaged: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """Set / cleared by the supervisor: an unhealthy service stops entries."""

    service: str
    healthy: bool

    def __post_init__(self) -> None:
        require_non_empty("service", self.service)


@dataclass(frozen=True, slots=True)
class CircuitBreakerTripped:
    reason: str


@dataclass(frozen=True, slots=True)
class CircuitBreakerCleared:
    """Only an operator clears a tripped breaker; the operator is named for the record."""

    operator: str

    def __post_init__(self) -> None:
        require_non_empty("operator", self.operator)


RiskInput = (
    AccountSnapshot
    | TradeClosed
    | KillSwitch
    | ServiceHealth
    | CircuitBreakerTripped
    | CircuitBreakerCleared
)


# --- state and events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskState:
    """Mode, its reasons and the facts they were computed from. ``RiskState()`` is a cold start."""

    mode: RiskMode = RiskMode.NORMAL
    reasons: tuple[str, ...] = ()  # sorted
    since: int = 0
    reason_since: tuple[tuple[str, int], ...] = ()  # (reason, raised at) for each reason
    equity: Decimal | None = None
    equity_at: int | None = None
    open_positions: int = 0
    gross_exposure: Decimal = ZERO
    margin_utilisation: Decimal = ZERO
    day_index: int | None = None
    day_start_equity: Decimal | None = None
    drawdown_window_index: int | None = None
    peak_equity: Decimal | None = None
    loss_streak: int = 0
    last_loss_at: int | None = None
    loss_lockout_until: int | None = None
    kill_switch_reason: str | None = None
    services_down: frozenset[str] = frozenset()
    circuit_breaker_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RiskModeChanged:
    """Emitted only when the mode or the set of reasons changes."""

    previous_mode: RiskMode
    mode: RiskMode
    reasons: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    at: int

    @property
    def mode_changed(self) -> bool:
        """False when only the set of reasons changed (same mode): news, not an alarm."""
        return self.mode is not self.previous_mode


def step_risk(
    state: RiskState, event: RiskInput | None, config: RiskConfig, now: int
) -> tuple[RiskState, list[RiskModeChanged]]:
    """Fold ``event`` (None = a timer tick) into the facts, then re-derive the mode at ``now``."""
    facts = _apply(state, event, config) if event is not None else state
    active = tuple(sorted(active_reasons(facts, config, now)))
    mode = most_severe(active)
    if mode is state.mode and active == state.reasons:
        unchanged = replace(
            facts, mode=mode, reasons=active, since=state.since, reason_since=state.reason_since
        )
        return unchanged, []
    since = now if mode is not state.mode else state.since
    raised = dict(state.reason_since)
    new_state = replace(
        facts,
        mode=mode,
        reasons=active,
        since=since,
        reason_since=tuple((r, raised.get(r, now)) for r in active),
    )
    change = RiskModeChanged(
        previous_mode=state.mode,
        mode=mode,
        reasons=active,
        added=tuple(r for r in active if r not in state.reasons),
        removed=tuple(r for r in state.reasons if r not in active),
        at=now,
    )
    return new_state, [change]


def most_severe(active: tuple[str, ...]) -> RiskMode:
    mode = RiskMode.NORMAL
    for reason in active:
        candidate = severity_of(reason)
        if _RANK[candidate] > _RANK[mode]:
            mode = candidate
    return mode


def severity_of(reason: str) -> RiskMode:
    if reason.startswith(reasons.SERVICE_DOWN_PREFIX):
        return RiskMode.REDUCE_ONLY
    return REASON_SEVERITY[reason]


def active_reasons(state: RiskState, config: RiskConfig, now: int) -> set[str]:
    """Every reason that holds at ``now``; windows are judged against ``now``, not event times.

    ``state.reasons`` / ``state.reason_since`` are the reasons active before this step:
    a latched reason among them is held by hysteresis (see the module docstring).
    """
    active: set[str] = set(state.services_down)
    if state.kill_switch_reason is not None:
        active.add(reasons.KILL_SWITCH)
    if state.circuit_breaker_reason is not None:
        active.add(reasons.CIRCUIT_BREAKER)
    if state.loss_lockout_until is not None and now < state.loss_lockout_until:
        active.add(reasons.CONSECUTIVE_LOSSES)
    equity = state.equity
    if equity is None or state.equity_at is None:
        active.add(reasons.EQUITY_STALE)  # fail closed until the first account snapshot
        return active
    if now - state.equity_at > config.equity_max_age_ms:
        active.add(reasons.EQUITY_STALE)
    release = config.release_ratio
    positions = Decimal(state.open_positions)
    gross_cap = equity * config.max_gross_exposure_ratio
    daily_loss = _loss_from(state.day_start_equity, equity)
    drawdown = _loss_from(state.peak_equity, equity)
    # (reason, measure >= limit, measure >= release level, window still current)
    limits = (
        (
            reasons.MAX_OPEN_POSITIONS,
            positions >= config.max_open_positions,
            positions >= config.max_open_positions,  # a count: releases below the limit
            True,
        ),
        (
            reasons.MARGIN_UTILISATION,
            state.margin_utilisation >= config.max_margin_utilisation,
            state.margin_utilisation >= config.max_margin_utilisation * release,
            True,
        ),
        (
            reasons.MAX_GROSS_EXPOSURE,
            equity <= ZERO or state.gross_exposure >= gross_cap,
            equity <= ZERO or state.gross_exposure >= gross_cap * release,
            True,
        ),
        (
            reasons.DAILY_LOSS_LIMIT,
            daily_loss >= config.daily_loss_limit_pct,
            daily_loss >= config.daily_loss_limit_pct * release,
            state.day_index == now // DAY_MS,
        ),
        (
            reasons.MAX_DRAWDOWN,
            drawdown >= config.max_drawdown_pct,
            drawdown >= config.max_drawdown_pct * release,
            state.drawdown_window_index == now // config.drawdown_window_ms,
        ),
    )
    for reason, tripped, above_release, current in limits:
        if current and (tripped or _held(state, reason, above_release, config, now)):
            active.add(reason)
    return active


def _held(state: RiskState, reason: str, above_release: bool, config: RiskConfig, now: int) -> bool:
    """A latched reason already active stays active above its release level or in its dwell."""
    if reason not in state.reasons:
        return False
    if above_release:
        return True
    raised = dict(state.reason_since).get(reason)
    return raised is not None and now - raised < config.min_dwell_ms


def _loss_from(reference: Decimal | None, equity: Decimal) -> Decimal:
    """Fractional loss of ``equity`` against ``reference`` (day start or peak); 0 if unknown."""
    if reference is None or reference <= ZERO:
        return ZERO
    return (reference - equity) / reference


def _apply(state: RiskState, event: RiskInput, config: RiskConfig) -> RiskState:
    if isinstance(event, AccountSnapshot):
        return _apply_snapshot(state, event, config)
    if isinstance(event, TradeClosed):
        return _apply_trade(state, event, config)
    if isinstance(event, KillSwitch):
        reason = (event.reason or "manual") if event.engaged else None
        return replace(state, kill_switch_reason=reason)
    if isinstance(event, ServiceHealth):
        code = reasons.service_down(event.service)
        down = state.services_down - {code} if event.healthy else state.services_down | {code}
        return replace(state, services_down=down)
    if isinstance(event, CircuitBreakerTripped):
        return replace(state, circuit_breaker_reason=event.reason or "tripped")
    return replace(state, circuit_breaker_reason=None)


def _apply_snapshot(state: RiskState, snap: AccountSnapshot, config: RiskConfig) -> RiskState:
    if state.equity_at is not None and snap.ts < state.equity_at:
        return state  # out of order: an older snapshot never overwrites a newer one
    day = snap.ts // DAY_MS
    day_start = state.day_start_equity if state.day_index == day else snap.equity
    window = snap.ts // config.drawdown_window_ms
    if state.drawdown_window_index == window and state.peak_equity is not None:
        peak = max(state.peak_equity, snap.equity)
    else:
        peak = snap.equity
    return replace(
        state,
        equity=snap.equity,
        equity_at=snap.ts,
        open_positions=snap.open_positions,
        gross_exposure=snap.gross_exposure,
        margin_utilisation=snap.margin_utilisation,
        day_index=day,
        day_start_equity=day_start,
        drawdown_window_index=window,
        peak_equity=peak,
    )


def _apply_trade(state: RiskState, trade: TradeClosed, config: RiskConfig) -> RiskState:
    if trade.pnl > ZERO:
        return replace(state, loss_streak=0)
    if trade.pnl == ZERO:
        return state  # a scratch trade neither extends nor breaks a losing streak
    recent = (
        state.last_loss_at is not None
        and trade.ts - state.last_loss_at <= config.loss_streak_window_ms
    )
    streak = state.loss_streak + 1 if recent else 1
    if streak >= config.consecutive_loss_limit:
        # The lockout starts at the losing trade's close and the streak starts afresh.
        return replace(
            state,
            loss_streak=0,
            last_loss_at=trade.ts,
            loss_lockout_until=trade.ts + config.loss_lockout_ms,
        )
    return replace(state, loss_streak=streak, last_loss_at=trade.ts)
