"""Intent admission: may a strategy's trade intent become an entry plan at all?

Fail-closed on the symbol universe (FAILURES #18): the tradable set is the configured
universe intersected with what the exchange currently lists, and it is only trusted while
its snapshot is fresh. An empty or stale universe admits nothing rather than everything.

Check order (the first failing check is the reason):
    1. ``duplicate_intent``   - intent id already admitted (redelivery is harmless)
    2. ``expired``            - intent older than its TTL at ``now``
    3. ``universe_stale``     - universe snapshot older than ``universe_max_age_ms``
    4. ``universe_empty``     - configured ∩ exchange-tradable is empty
    5. ``symbol_not_allowed`` - symbol outside that intersection
    6. ``low_confidence``     - confidence below ``min_confidence``
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.config_checks import (
    require_finite,
    require_fraction,
    require_non_empty,
    require_non_negative,
    require_positive,
)
from quantum_trader.decide.plan_ids import PLAN_ID_HEX_CHARS
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PositionSide


@dataclass(frozen=True, slots=True)
class TradeIntent:
    """What a strategy wants: direction, conviction and the price geometry of the trade.

    ``stop_distance`` and ``take_profit_distance`` are in PRICE units per one unit of the
    base asset (e.g. 850 USDT for BTCUSDT), never fractions of price (FAILURES #15).
    """

    intent_id: str
    symbol: str
    side: PositionSide
    confidence: Decimal
    strategy: str
    bar_time: int
    created_at: int
    entry_price: Decimal
    stop_distance: Decimal
    take_profit_distance: Decimal | None = None

    def __post_init__(self) -> None:
        require_non_empty("intent_id", self.intent_id)
        require_non_empty("symbol", self.symbol)
        require_non_empty("strategy", self.strategy)
        require_finite("confidence", self.confidence)
        require_fraction("confidence", self.confidence, allow_zero=True)
        require_finite("entry_price", self.entry_price)
        require_positive("entry_price", self.entry_price)
        require_finite("stop_distance", self.stop_distance)
        require_positive("stop_distance", self.stop_distance)
        if self.take_profit_distance is not None:
            require_finite("take_profit_distance", self.take_profit_distance)
            require_positive("take_profit_distance", self.take_profit_distance)
        require_non_negative("bar_time", self.bar_time)
        require_non_negative("created_at", self.created_at)


@dataclass(frozen=True, slots=True)
class UniverseSnapshot:
    """The configured universe, the exchange's tradable symbols, and when they were read."""

    configured: frozenset[str]
    exchange_tradable: frozenset[str]
    updated_at: int

    @property
    def allowed(self) -> frozenset[str]:
        return self.configured & self.exchange_tradable


DEFAULT_INTENT_TTL_MS = 60_000  # how long a signal stays actionable after its bar closed


@dataclass(frozen=True, slots=True)
class IntentPolicyConfig:
    """Admission thresholds. Durations in milliseconds."""

    # One default for every mode. The rule strategies' confidences are low at a fresh
    # cross (trend_ema's grows with the EMA gap), so 0.2 admits their signals; raise it
    # to trade only stronger ones.
    min_confidence: Decimal = Decimal("0.2")
    intent_ttl_ms: int = DEFAULT_INTENT_TTL_MS
    universe_max_age_ms: int = 15 * 60_000
    plan_ttl_ms: int = 30_000  # an entry plan's lifetime from the moment it is sized

    def __post_init__(self) -> None:
        require_fraction("min_confidence", self.min_confidence, allow_zero=True)
        require_positive("intent_ttl_ms", self.intent_ttl_ms)
        require_positive("universe_max_age_ms", self.universe_max_age_ms)
        require_positive("plan_ttl_ms", self.plan_ttl_ms)


@dataclass(frozen=True, slots=True)
class AdmittedIntent:
    """An intent that may be sized into an OPEN plan with this id, valid until ``expires_at``."""

    plan_id: str
    intent: TradeIntent
    expires_at: int


def plan_id_for_intent(intent_id: str) -> str:
    """Deterministic plan id: the same intent always maps to the same plan (invariant 1)."""
    digest = hashlib.sha256(f"open:{intent_id}".encode()).hexdigest()
    return digest[:PLAN_ID_HEX_CHARS]


def admit_intent(
    intent: TradeIntent,
    seen_intent_ids: frozenset[str],
    universe: UniverseSnapshot,
    config: IntentPolicyConfig,
    now: int,
) -> tuple[frozenset[str], AdmittedIntent | Rejection]:
    """Admit or reject ``intent``; returns the new seen-id set and the outcome.

    Only admitted intents are remembered: a rejected one may be redelivered after the
    universe recovers and is then judged afresh (and still expires on its own TTL).
    """
    rejection = _first_rejection(intent, seen_intent_ids, universe, config, now)
    if rejection is not None:
        return seen_intent_ids, rejection
    admitted = AdmittedIntent(
        plan_id=plan_id_for_intent(intent.intent_id),
        intent=intent,
        expires_at=intent.created_at + config.intent_ttl_ms,
    )
    return seen_intent_ids | {intent.intent_id}, admitted


def _first_rejection(
    intent: TradeIntent,
    seen_intent_ids: frozenset[str],
    universe: UniverseSnapshot,
    config: IntentPolicyConfig,
    now: int,
) -> Rejection | None:
    if intent.intent_id in seen_intent_ids:
        return Rejection(reasons.DUPLICATE_INTENT, f"intent {intent.intent_id} already admitted")
    age = now - intent.created_at
    if age > config.intent_ttl_ms:
        return Rejection(reasons.EXPIRED, f"intent age {age} ms > ttl {config.intent_ttl_ms} ms")
    universe_age = now - universe.updated_at
    if universe_age > config.universe_max_age_ms:
        return Rejection(
            reasons.UNIVERSE_STALE,
            f"universe age {universe_age} ms > {config.universe_max_age_ms} ms",
        )
    allowed = universe.allowed
    if not allowed:
        return Rejection(reasons.UNIVERSE_EMPTY, "configured ∩ exchange-tradable is empty")
    if intent.symbol not in allowed:
        return Rejection(reasons.SYMBOL_NOT_ALLOWED, f"{intent.symbol} not in universe")
    if intent.confidence < config.min_confidence:
        return Rejection(
            reasons.LOW_CONFIDENCE,
            f"confidence {intent.confidence} < {config.min_confidence}",
        )
    return None
