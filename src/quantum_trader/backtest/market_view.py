"""The exit brain's market features for a whole series, precomputed with numpy.

The exit-brain service keeps a :class:`~quantum_trader.strategies.features.MarketFeatures`
tracker per symbol (ATR, its average, a trend EMA) and updates it bar by bar. The
backtester computes the same indicators once with :mod:`quantum_trader.strategies.vector`
(bit-identical to the incremental ones) and rebuilds the tracker *value* at any bar, so the
features the exit brain sees — regime, volatility ratio, directional strength — come from
the same code as in the service, without a Python update per bar for symbols that are flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from quantum_trader.backtest.trades import FloatArray
from quantum_trader.data.bars import BarSeries
from quantum_trader.decide.exit_model import MarketFeatures as ExitMarketFeatures
from quantum_trader.strategies import vector
from quantum_trader.strategies.features import MarketFeatures as FeatureTracker
from quantum_trader.strategies.features import exit_features
from quantum_trader.strategies.indicators import NAN, Atr, Ema, WilderAverage

ATR_PERIOD = 14
TREND_SPAN = 200
ATR_MEAN_SPAN = 50


@dataclass(frozen=True, slots=True, eq=False)
class FeatureSeries:
    """ATR, ATR average and trend EMA at every bar of one series (NaN while warming up)."""

    close: FloatArray
    atr: FloatArray
    atr_mean: FloatArray
    trend: FloatArray

    @classmethod
    def of(cls, series: BarSeries) -> FeatureSeries:
        atr = vector.atr(series.high, series.low, series.close, ATR_PERIOD)
        atr_mean = np.full(atr.size, NAN)
        ready_from = ATR_PERIOD - 1
        if atr.size > ready_from:
            atr_mean[ready_from:] = vector.ema(atr[ready_from:], ATR_MEAN_SPAN)
        return cls(series.close, atr, atr_mean, vector.ema(series.close, TREND_SPAN))

    def tracker_at(self, i: int) -> FeatureTracker:
        """The service's tracker as it stands after bar ``i``."""
        atr_ready = i >= ATR_PERIOD - 1
        average = WilderAverage(ATR_PERIOD, i + 1, 0.0, float(self.atr[i]))
        mean_count = i - ATR_PERIOD + 2 if atr_ready else 0
        return FeatureTracker(
            Atr(average, float(self.close[i])),
            Ema(ATR_MEAN_SPAN, mean_count, float(self.atr_mean[i])),
            Ema(TREND_SPAN, i + 1, float(self.trend[i])),
        )

    def exit_features(
        self, i: int, price: Decimal, sign: int, strength_at_entry: Decimal | None
    ) -> tuple[ExitMarketFeatures, Decimal]:
        """Features for ``evaluate_exit`` at the close of bar ``i``, built as the service does.

        Returns them with the directional strength, which the caller keeps as the
        position's strength at entry on its first evaluation.
        """
        return exit_features(self.tracker_at(i), price, sign, strength_at_entry)
