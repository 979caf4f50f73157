"""From a strategy's entry signal to a sized entry: the intent bridge's decisions, which
the backtester takes too — one rule for each step, so the two cannot drift.

* ``price_distance`` — a strategy's float stop / target distance as the Decimal the
  intent carries (``DISTANCE_DIGITS`` significant digits);
* ``admit`` — the producer's own deadline (``expires_at``), then
  :func:`~quantum_trader.decide.intent_policy.admit_intent`;
* ``size_admitted`` — the system's risk sizing (:func:`~quantum_trader.decide.sizing.size_entry`,
  with the intent's take-profit distance) or, where a strategy's rules say so, all of the
  account's equity at the expected price (``full_equity_entry``);
* ``fixed_levels`` — with fixed exits, the stop and target as fractions of the entry
  fill, on the tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.intent_policy import (
    AdmittedIntent,
    IntentPolicyConfig,
    TradeIntent,
    UniverseSnapshot,
    admit_intent,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.sizing import (
    AccountCapacity,
    SizedEntry,
    SizingConfig,
    SizingRequest,
    size_entry,
)
from quantum_trader.domain.enums import EntrySizing, PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ONE, ZERO, round_down, round_up

DISTANCE_DIGITS = 10  # significant digits kept from a float price distance


def price_distance(value: float) -> Decimal:
    """A strategy's float distance as a Decimal with ``DISTANCE_DIGITS`` significant digits.

    Enough for any tick (sizing rounds the resulting stop to the instrument's tick);
    without the cut a float would travel as 33892.56058295204-style noise.
    """
    return Decimal(f"{value:.{DISTANCE_DIGITS}g}")


def admit(
    intent: TradeIntent,
    seen: frozenset[str],
    universe: UniverseSnapshot,
    policy: IntentPolicyConfig,
    now: int,
    expires_at: int | None = None,
) -> tuple[frozenset[str], AdmittedIntent | Rejection]:
    """Admission: past the producer's ``expires_at`` (when it set one) an intent not yet
    admitted is refused; then the policy (its own TTL measures from ``created_at``)."""
    if expires_at is not None and intent.intent_id not in seen and now > expires_at:
        return seen, Rejection(reasons.EXPIRED, f"now {now} > intent expires_at {expires_at}")
    return admit_intent(intent, seen, universe, policy, now)


@dataclass(frozen=True, slots=True)
class EntrySizingRules:
    """How an admitted intent is sized: ``sizing`` for the system's risk sizing; with
    ``FULL_EQUITY`` the equity at the expected price, the lot step kept unless the
    quantities are ``continuous`` (a reference strategy's rules)."""

    method: EntrySizing = EntrySizing.RISK
    continuous: bool = False


def size_admitted(
    admitted: AdmittedIntent,
    account: AccountCapacity,
    instrument: Instrument,
    sizing: SizingConfig,
    rules: EntrySizingRules,
    price: Decimal,
) -> SizedEntry | Rejection:
    """Size ``admitted`` from ``account`` (read once for all entries of its bar); ``price``
    is where the entry is expected to fill (the intent's reference price live, the next
    open in a backtest) — full-equity sizing divides by it."""
    intent = admitted.intent
    if rules.method is EntrySizing.FULL_EQUITY:
        return full_equity_entry(
            intent.side, price, account.equity, sizing.taker_fee_rate, instrument, rules.continuous
        )
    tp = intent.take_profit_distance
    request = SizingRequest(
        side=intent.side,
        entry_price=intent.entry_price,
        stop_distance=intent.stop_distance,
        take_profit_distances=() if tp is None else (tp,),
    )
    return size_entry(request, account, instrument, sizing)


def full_equity_entry(
    side: PositionSide,
    price: Decimal,
    equity: Decimal,
    fee: Decimal,
    instrument: Instrument,
    continuous: bool,
) -> SizedEntry | Rejection:
    """All of ``equity`` at ``price``, entry fee included: ``equity / (price × (1 + fee))``
    (the reference strategy's sizing). Rounded down to the lot step unless continuous."""
    if not equity > ZERO:
        return Rejection(reasons.NO_EQUITY, f"equity {equity} <= 0")
    qty = equity / (price * (ONE + fee))
    if not continuous:
        qty = round_down(qty, instrument.market_step_size)
        if qty < instrument.market_min_qty or qty * price < instrument.min_notional:
            return Rejection(reasons.BELOW_MIN_QTY, f"qty {qty} below the instrument's minimums")
    return SizedEntry(
        side=side,
        qty=qty,
        notional=qty * price,
        entry_price=price,
        stop_price=ZERO,  # set from the fill (fixed exits)
        take_profit_prices=(),
        leverage=1,
        risk_amount=equity,
        risk_at_stop=ZERO,
        binding_cap="full_equity",
    )


def fixed_levels(
    side: PositionSide,
    fill: Decimal,
    stop_fraction: float,
    target_fraction: float | None,
    tick: Decimal | None,
) -> tuple[Decimal, Decimal | None]:
    """(stop, target) at ``stop_fraction`` / ``target_fraction`` of the entry ``fill``; on
    the ``tick`` — the stop away from the entry, the target toward it — unless prices are
    continuous (``tick`` None)."""
    sign = Decimal(side.sign)
    stop = fill * (ONE - sign * Decimal(repr(stop_fraction)))
    target = None
    if target_fraction is not None:
        target = fill * (ONE + sign * Decimal(repr(target_fraction)))
    if tick is not None:
        # Long: the stop below the entry rounds down (away), the target above it rounds
        # down too (toward it); short: both round up.
        rounded = round_down if side is PositionSide.LONG else round_up
        stop = rounded(stop, tick)
        target = None if target is None else rounded(target, tick)
    return stop, target
