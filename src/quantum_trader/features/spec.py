"""The feature parameter table: every window, span and horizon, in one frozen value.

Windows, spans and horizons count *bars of the series' own interval* (positions, see the
gap rule in ``features/__init__``); a higher timeframe's parameters count its own bars.
The defaults suit 1 m bars: 240 bars is four hours, the 1 h timeframe is 60 bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantum_trader.data.bars import interval_ms


def _positive(name: str, *values: int) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"FeatureSpec.{name}: expected positive integers, got {value!r}")


@dataclass(frozen=True, slots=True)
class HigherTimeframe:
    """Features read from completed bars of a coarser interval resampled from the base bars."""

    interval: str
    ema_span: int = 21
    atr_period: int = 14
    range_window: int = 20
    rsi_period: int = 14

    def __post_init__(self) -> None:
        interval_ms(self.interval)  # DataError on an unknown interval
        _positive(
            f"higher_timeframes[{self.interval}]",
            self.ema_span,
            self.atr_period,
            self.range_window,
            self.rsi_period,
        )


DEFAULT_HIGHER_TIMEFRAMES = (HigherTimeframe("5m"), HigherTimeframe("15m"), HigherTimeframe("1h"))
DEFAULT_CROSS_SECTION = (
    "ret_15", "ret_60", "ret_240", "rvol_60", "volume_ratio_20", "rsi_14", "funding_rate",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Parameters of every feature family; ``names`` and ``version`` derive from it."""

    return_horizons: tuple[int, ...] = (1, 5, 15, 60, 240)
    atr_period: int = 14
    realised_vol_windows: tuple[int, ...] = (20, 60, 240)
    parkinson_windows: tuple[int, ...] = (20, 60)
    volume_ratio_windows: tuple[int, ...] = (20, 240)
    volume_shock_span: int = 60
    range_windows: tuple[int, ...] = (1, 20, 60, 240)
    ema_gap_spans: tuple[int, ...] = (9, 21, 55, 200)
    ema_slope_spans: tuple[int, ...] = (21, 55, 200)
    slope_lag: int = 5
    macd_spans: tuple[int, int, int] = (12, 26, 9)  # fast, slow, signal
    rsi_period: int = 14
    close_z_spans: tuple[int, ...] = (20, 100)
    missing_window: int = 240
    funding_ema_span: int = 480
    funding_period_hours: int = 8  # Binance USDⓈ-M settles at 00:00, 08:00, 16:00 UTC
    higher_timeframes: tuple[HigherTimeframe, ...] = DEFAULT_HIGHER_TIMEFRAMES
    cross_section: tuple[str, ...] = field(default=DEFAULT_CROSS_SECTION)

    def __post_init__(self) -> None:
        for name in (
            "return_horizons",
            "realised_vol_windows",
            "parkinson_windows",
            "volume_ratio_windows",
            "range_windows",
            "ema_gap_spans",
            "ema_slope_spans",
            "macd_spans",
            "close_z_spans",
        ):
            values = getattr(self, name)
            _positive(name, *values)
            if len(set(values)) != len(values):
                raise ValueError(f"FeatureSpec.{name}: values repeat: {values}")
        _positive(
            "periods",
            self.atr_period,
            self.volume_shock_span,
            self.slope_lag,
            self.rsi_period,
            self.missing_window,
            self.funding_ema_span,
            self.funding_period_hours,
        )
        fast, slow, _ = self.macd_spans
        if fast >= slow:
            raise ValueError(f"FeatureSpec.macd_spans: fast {fast} must be below slow {slow}")
        tfs = [h.interval for h in self.higher_timeframes]
        if len(set(tfs)) != len(tfs):
            raise ValueError(f"FeatureSpec.higher_timeframes: intervals repeat: {tfs}")


HIGHER_CANDIDATES = ("5m", "15m", "1h", "4h", "1d")


def spec_for(interval: str) -> FeatureSpec:
    """The default spec for bars of ``interval``: as higher timeframes, the first three of
    5m, 15m, 1h, 4h, 1d that are whole multiples above it (1 m bars: the default spec)."""
    base = interval_ms(interval)
    chosen = [
        tf for tf in HIGHER_CANDIDATES if interval_ms(tf) > base and interval_ms(tf) % base == 0
    ][:3]
    kept = {h.interval: h for h in DEFAULT_HIGHER_TIMEFRAMES}
    higher = tuple(kept.get(tf, HigherTimeframe(tf)) for tf in chosen)
    if higher == DEFAULT_HIGHER_TIMEFRAMES:
        return FeatureSpec()
    return FeatureSpec(higher_timeframes=higher)
