"""Kill score: how strongly the market now argues against holding a position, in [0, 1].

Four components, each in [0, 1] and reported:
  * ``regime_flip``      1 when the regime points against the position, ``range_regime``
                         when it is flat (0), 0 when it is with the position;
  * ``volatility_spike`` 0 up to ``vol_ratio_normal`` × baseline ATR, rising linearly to 1
                         at ``vol_ratio_extreme``;
  * ``signal_drop``      relative drop of signal strength since entry beyond a tolerance,
                         (drop − tol)/(1 − tol);
  * ``age``              0 during ``age_grace_ms``, rising linearly to 1 at ``age_full_ms``.
score = Σ wᵢ·cᵢ / Σ wᵢ. Calibration: a young position in a trend with normal volatility
and an intact signal scores exactly 0 (the system we replace scored 0.5 at rest). With the
default weights no single component can close a position (the largest weight is 0.35);
it takes agreement, e.g. a regime flip plus a collapsed signal (0.35 + 0.25 = 0.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide.config_checks import require_fraction, require_non_negative
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import ONE, ZERO

SCORE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class KillScoreConfig:
    weight_regime_flip: Decimal = Decimal("0.35")
    weight_volatility_spike: Decimal = Decimal("0.20")
    weight_signal_drop: Decimal = Decimal("0.25")
    weight_age: Decimal = Decimal("0.20")
    threshold: Decimal = Decimal("0.6")
    range_regime: Decimal = Decimal("0.3")
    vol_ratio_normal: Decimal = Decimal("1.5")
    vol_ratio_extreme: Decimal = Decimal("3")
    signal_drop_tolerance: Decimal = Decimal("0.2")
    age_grace_ms: int = 4 * 3_600_000
    age_full_ms: int = 24 * 3_600_000

    def __post_init__(self) -> None:
        for name in ("regime_flip", "volatility_spike", "signal_drop", "age"):
            require_non_negative(f"weight_{name}", getattr(self, f"weight_{name}"))
        if self.total_weight <= ZERO:
            raise ValueError("weight_*: at least one weight must be > 0")
        require_fraction("threshold", self.threshold)
        require_fraction("range_regime", self.range_regime, allow_zero=True)
        if not ZERO < self.vol_ratio_normal < self.vol_ratio_extreme:
            raise ValueError("vol_ratio_normal must be > 0 and < vol_ratio_extreme")
        if not ZERO <= self.signal_drop_tolerance < ONE:
            raise ValueError("signal_drop_tolerance must be in [0, 1)")
        require_non_negative("age_grace_ms", self.age_grace_ms)
        if self.age_full_ms <= self.age_grace_ms:
            raise ValueError("age_full_ms must be > age_grace_ms")

    @property
    def total_weight(self) -> Decimal:
        return (
            self.weight_regime_flip
            + self.weight_volatility_spike
            + self.weight_signal_drop
            + self.weight_age
        )


@dataclass(frozen=True, slots=True)
class KillScore:
    score: Decimal
    regime_flip: Decimal
    volatility_spike: Decimal
    signal_drop: Decimal
    age: Decimal

    def components(self) -> tuple[tuple[str, Decimal], ...]:
        return (
            ("regime_flip", self.regime_flip),
            ("volatility_spike", self.volatility_spike),
            ("signal_drop", self.signal_drop),
            ("age", self.age),
        )


def _clamp(value: Decimal) -> Decimal:
    return min(ONE, max(ZERO, value))


def _ramp(value: Decimal, start: Decimal, full: Decimal) -> Decimal:
    return _clamp((value - start) / (full - start))


def kill_score(
    side: PositionSide,
    regime: int,
    volatility_ratio: Decimal,
    signal_strength: Decimal,
    signal_strength_at_entry: Decimal,
    age_ms: int,
    config: KillScoreConfig,
) -> KillScore:
    against = ONE if regime == -side.sign else ZERO
    regime_flip = config.range_regime if regime == 0 else against
    volatility = _ramp(volatility_ratio, config.vol_ratio_normal, config.vol_ratio_extreme)
    if signal_strength_at_entry > ZERO:
        drop = (signal_strength_at_entry - signal_strength) / signal_strength_at_entry
        signal = _ramp(drop, config.signal_drop_tolerance, ONE)
    else:
        signal = ZERO  # no reference strength: nothing to have dropped from
    age = _ramp(Decimal(age_ms), Decimal(config.age_grace_ms), Decimal(config.age_full_ms))
    weighted = (
        config.weight_regime_flip * regime_flip
        + config.weight_volatility_spike * volatility
        + config.weight_signal_drop * signal
        + config.weight_age * age
    )
    return KillScore(
        score=(weighted / config.total_weight).quantize(SCORE_PLACES),
        regime_flip=regime_flip.quantize(SCORE_PLACES),
        volatility_spike=volatility.quantize(SCORE_PLACES),
        signal_drop=signal.quantize(SCORE_PLACES),
        age=age.quantize(SCORE_PLACES),
    )
