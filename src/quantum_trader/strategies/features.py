"""Market context every strategy attaches to its signals for the exit brain.

The exit brain scores open positions on the regime they were opened in and on how
volatile the market is compared with its own recent past; strategies measure both the
same way so the exit brain can compare signals from different strategies:

- ``regime``: +1 when the close is above the trend EMA by more than half an ATR, −1
  below it by as much, 0 inside that band (range). An ATR band, not a percentage, so
  the same setting works for BTC at 60,000 and for a 0.3 USDT alt.
- ``volatility_ratio``: ATR now / its own EMA — above 1 the market is more volatile
  than it has been, so stops sized on the current ATR are relatively wide.
- ``signal_strength``: the strategy's normalised setup strength in [0, 1].
- ``atr``: the ATR the stop distance was derived from (price units); 0 while the ATR
  is still warming up (only a strategy with a shorter warm-up than its ATR sees that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide.exit_model import MarketFeatures as ExitFeatures
from quantum_trader.strategies.base import Bar
from quantum_trader.strategies.indicators import Atr, Ema

REGIME_BAND_ATR = 0.5  # half an ATR around the trend EMA reads as "range"


@dataclass(frozen=True, slots=True)
class MarketFeatures:
    """ATR, its average, and a trend EMA, updated together once per bar."""

    atr: Atr
    atr_mean: Ema
    trend: Ema

    @classmethod
    def start(
        cls, *, atr_period: int = 14, trend_span: int = 200, atr_mean_span: int = 50
    ) -> MarketFeatures:
        return cls(Atr.start(atr_period), Ema.start(atr_mean_span), Ema.start(trend_span))

    @property
    def ready(self) -> bool:
        return self.atr.ready

    def update(self, bar: Bar) -> MarketFeatures:
        atr = self.atr.update(bar.high, bar.low, bar.close)
        # The ATR average starts at the first real ATR: averaging its NaN warm-up is meaningless.
        atr_mean = self.atr_mean.update(atr.value) if atr.ready else self.atr_mean
        return MarketFeatures(atr, atr_mean, self.trend.update(bar.close))

    def regime(self, close: float) -> float:
        """+1 trend up, −1 trend down, 0 range (see module docstring)."""
        band = REGIME_BAND_ATR * self.atr.value if self.atr.ready else 0.0
        if close > self.trend.value + band:
            return 1.0
        if close < self.trend.value - band:
            return -1.0
        return 0.0

    def volatility_ratio(self) -> float:
        """ATR now over its EMA; 1.0 (no information) until both exist."""
        if not self.atr.ready or not self.atr_mean.ready or self.atr_mean.value <= 0.0:
            return 1.0
        return self.atr.value / self.atr_mean.value

    def stop_distance(self, atr_multiple: float) -> float | None:
        """``atr_multiple`` × ATR, or None when no positive ATR exists yet (no stop, no trade)."""
        if not self.atr.ready:
            return None
        distance = atr_multiple * self.atr.value
        return distance if distance > 0.0 else None

    def snapshot(self, close: float, strength: float, **extra: float) -> Mapping[str, float]:
        """The features dict a signal carries: the common keys plus strategy-specific ones.

        ``strength`` is the strategy's own normalised measure (1 = a textbook setup); it
        is clamped to [0, 1] as ``signal_strength``, the scale the exit brain compares.
        """
        return {
            "regime": self.regime(close),
            "signal_strength": min(1.0, max(0.0, strength)),
            "volatility_ratio": self.volatility_ratio(),
            "atr": self.atr.value if self.atr.ready else 0.0,  # 0: not measured yet
            **extra,
        }


def directional_strength(tracker: MarketFeatures, close: float, sign: int) -> Decimal:
    """How far price sits on the position's side of the trend, in units of 2 ATR (0..1)."""
    if not tracker.atr.ready or tracker.atr.value <= 0:
        return Decimal("0.5")
    gap = sign * (close - tracker.trend.value) / (2 * tracker.atr.value)
    return Decimal(str(round(min(1.0, max(0.0, gap)), 4)))


def exit_features(
    tracker: MarketFeatures, price: Decimal, sign: int, strength_at_entry: Decimal | None
) -> tuple[ExitFeatures, Decimal]:
    """What the exit brain judges a position on at a close of ``price`` (the service and
    the backtest both ask here), with the directional strength now — the position's
    strength at entry on its first judgement (``strength_at_entry`` None)."""
    strength = directional_strength(tracker, float(price), sign)
    features = ExitFeatures(
        price=price,
        atr=Decimal(str(round(tracker.atr.value, 12))) if tracker.atr.ready else Decimal(0),
        regime=int(tracker.regime(float(price))),
        signal_strength=strength,
        signal_strength_at_entry=strength if strength_at_entry is None else strength_at_entry,
        volatility_ratio=Decimal(str(round(tracker.volatility_ratio(), 6))),
    )
    return features, strength
