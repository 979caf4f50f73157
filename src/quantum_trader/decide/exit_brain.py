"""Exit brain: for one open position, what exits to propose now.

    evaluate_exit(position, state, features, instrument, config, now)
        -> (new ExitState, [ExitDecision, ...])

Order of reasoning:
  1. No position, or qty 0 → nothing (FAILURES #12: never propose a close for nothing).
  2. Track the best price since entry; compute R, R_net and the kill score.
  3. Candidate stop = current stop tightened by break-even (once a tranche was taken) and
     by the ATR trail (once R at the best price reached ``trail_activation_r``).
  4. FULL_CLOSE if the price is through that stop (``stop_breached`` — defence in depth
     should the exchange-side stop be missing), the position is older than
     ``max_holding_ms`` (``time_stop``) or the kill score ≥ its threshold (``kill_score``).
     A full close is re-proposed only after ``close_retry_ms``, under a new attempt id,
     so a lost or skipped close is retried without flooding the plan stream.
  5. Otherwise at most one ladder tranche (PARTIAL_*) and one UPDATE_STOP when the stop
     tightened.

Plan ids are sha256 prefixes of (position_id, purpose): ``tranche:<n>``,
``stop:<price>``, ``close:<attempt>``, so the same step is never proposed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.config_checks import require_fraction, require_positive
from quantum_trader.decide.exit_labels import harvest_label
from quantum_trader.decide.exit_model import (
    ExitDecision,
    ExitState,
    MarketFeatures,
    OpenPosition,
    exit_plan_id,
)
from quantum_trader.decide.harvest_ladder import (
    HarvestConfig,
    break_even_stop,
    due_tranche,
    tighten,
    trailing_stop,
)
from quantum_trader.decide.kill_score import KillScore, KillScoreConfig, kill_score
from quantum_trader.decide.position_ledger import LedgerPosition, as_open_position
from quantum_trader.decide.r_multiple import r_multiple, r_net
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO, fmt

R_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ExitConfig:
    harvest: HarvestConfig = field(default_factory=HarvestConfig)
    kill: KillScoreConfig = field(default_factory=KillScoreConfig)
    taker_fee_rate: Decimal = Decimal("0.0005")
    max_holding_ms: int = 24 * 3_600_000
    close_retry_ms: int = 30_000

    def __post_init__(self) -> None:
        require_fraction("taker_fee_rate", self.taker_fee_rate, allow_zero=True)
        require_positive("max_holding_ms", self.max_holding_ms)
        require_positive("close_retry_ms", self.close_retry_ms)


@dataclass(frozen=True, slots=True)
class _Context:
    """Per-evaluation facts shared by every decision built from it."""

    position: OpenPosition
    score: KillScore
    r: Decimal
    r_net: Decimal
    now: int

    def decision(
        self,
        purpose: str,
        action: PlanAction,
        reason_codes: tuple[str, ...],
        new_stop: Decimal | None = None,
    ) -> ExitDecision:
        fraction = action.close_fraction
        return ExitDecision(
            plan_id=exit_plan_id(self.position.position_id, purpose),
            position_id=self.position.position_id,
            symbol=self.position.symbol,
            side=self.position.side,
            action=action,
            fraction=Decimal(fraction) if fraction is not None else None,
            new_stop=new_stop,
            reason_codes=reason_codes,
            kill_score=self.score.score,
            kill_components=self.score.components(),
            r_multiple=self.r.quantize(R_PLACES),
            r_net=self.r_net.quantize(R_PLACES),
            created_at=self.now,
        )


def judge_position(
    position: LedgerPosition,
    state: ExitState | None,
    features: MarketFeatures,
    instrument: Instrument,
    config: ExitConfig,
    now: int,
) -> tuple[ExitState, list[ExitDecision]]:
    """The exit brain's look at a ledger position at a bar's close — the service's and
    the backtester's. The ledger is the truth about what already happened to it: its
    ladder stage and its working stop (while one is placed) go into the state (a fresh
    one, ``ExitState.opening``, when there is none yet); then :func:`evaluate_exit`."""
    open_position = as_open_position(position)
    base = state or ExitState.opening(open_position)
    base = replace(
        base,
        ladder_stage=max(base.ladder_stage, position.ladder_stage),
        current_stop=position.stop_price if position.stop_price > ZERO else base.current_stop,
    )
    return evaluate_exit(open_position, base, features, instrument, config, now)


def evaluate_exit(
    position: OpenPosition | None,
    state: ExitState,
    features: MarketFeatures,
    instrument: Instrument,
    config: ExitConfig,
    now: int,
) -> tuple[ExitState, list[ExitDecision]]:
    if position is None or position.qty <= ZERO:
        return state, []
    side, entry, price = position.side, position.entry_price, features.price
    best = tighten(side, state.best_price, price)  # "tighter" = more favourable for best price
    r_now = r_multiple(side, entry, position.initial_stop, price)
    entry_fee = position.fees_paid / position.initial_qty if position.fees_paid > ZERO else None
    ctx = _Context(
        position=position,
        score=kill_score(
            side,
            features.regime,
            features.volatility_ratio,
            features.signal_strength,
            features.signal_strength_at_entry,
            now - position.opened_at,
            config.kill,
        ),
        r=r_now,
        r_net=r_net(side, entry, position.initial_stop, price, config.taker_fee_rate, entry_fee),
        now=now,
    )
    tranche = due_tranche(state.ladder_stage, r_now, position.leverage, config.harvest)
    stage = state.ladder_stage + (1 if tranche is not None else 0)
    stop, stop_reasons = _tightened_stop(position, state, best, features, instrument, config, stage)
    trailing_active = state.trailing_active or reasons.TRAILING_STOP in stop_reasons

    close_reasons = _full_close_reasons(side, price, stop, ctx, config)
    if close_reasons:
        closing = replace(state, best_price=best, trailing_active=trailing_active)
        return _propose_full_close(closing, ctx, close_reasons, config)

    decisions: list[ExitDecision] = []
    if tranche is not None:
        n, rung = tranche
        decisions.append(ctx.decision(f"tranche:{n}", rung.action, (harvest_label(n + 1),)))
    if stop != state.current_stop:
        decisions.append(
            ctx.decision(f"stop:{fmt(stop)}", PlanAction.UPDATE_STOP, stop_reasons, stop)
        )
    new_state = replace(
        state,
        ladder_stage=stage,
        current_stop=stop,
        best_price=best,
        trailing_active=trailing_active,
    )
    return new_state, decisions


def _tightened_stop(
    position: OpenPosition,
    state: ExitState,
    best: Decimal,
    features: MarketFeatures,
    instrument: Instrument,
    config: ExitConfig,
    stage: int,
) -> tuple[Decimal, tuple[str, ...]]:
    side, harvest, tick = position.side, config.harvest, instrument.tick_size
    stop = state.current_stop
    why: list[str] = []
    if harvest.break_even_after_first_tranche and stage >= 1:
        candidate = tighten(
            side, stop, break_even_stop(side, position.entry_price, config.taker_fee_rate, tick)
        )
        if candidate != stop:
            stop = candidate
            why.append(reasons.BREAK_EVEN)
    best_r = r_multiple(side, position.entry_price, position.initial_stop, best)
    if best_r >= harvest.trail_activation_r and features.atr > ZERO:
        candidate = tighten(side, stop, trailing_stop(side, best, features.atr, harvest, tick))
        if candidate != stop:
            stop = candidate
            why.append(reasons.TRAILING_STOP)
    return stop, tuple(why)


def _full_close_reasons(
    side: PositionSide, price: Decimal, stop: Decimal, ctx: _Context, config: ExitConfig
) -> tuple[str, ...]:
    why: list[str] = []
    if side.sign * (price - stop) <= ZERO:
        why.append(reasons.STOP_BREACHED)
    if ctx.now - ctx.position.opened_at >= config.max_holding_ms:
        why.append(reasons.TIME_STOP)
    if ctx.score.score >= config.kill.threshold:
        why.append(reasons.KILL_SCORE)
    return tuple(why)


def _propose_full_close(
    state: ExitState, ctx: _Context, close_reasons: tuple[str, ...], config: ExitConfig
) -> tuple[ExitState, list[ExitDecision]]:
    last = state.last_close_proposed_at
    if last is not None and ctx.now - last < config.close_retry_ms:
        return state, []  # already proposed; the apply-layer has it
    attempt = state.close_attempts + 1
    decision = ctx.decision(f"close:{attempt}", PlanAction.FULL_CLOSE, close_reasons)
    return replace(state, close_attempts=attempt, last_close_proposed_at=ctx.now), [decision]
