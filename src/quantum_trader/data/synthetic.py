"""Seeded synthetic crypto market at 1-minute resolution, vectorised with numpy.

Each minute's log return is

    r_t = σ_sym · v_regime · √h_hour · s(t) · (√ρ·z_market + √(1−ρ)·z_idio) + μ_regime + J_t

* a market-wide Markov regime (bull / bear / range) sets drift ``μ`` and a vol multiplier;
* ``h`` is a market-wide GARCH(1,1) variance updated hourly from the market factor's
  realised hourly return, so calm and wild periods cluster (the loop runs once per hour);
* ``z`` are Student-t shocks (fat tails) from a shared market factor and an idiosyncratic
  part, which gives pairwise correlation ≈ ρ;
* ``J`` are Poisson jumps with Laplace sizes, partly shared across symbols;
* ``s(t)`` is an intraday seasonality peaking in the US session.

Prices are built on each symbol's tick as integer tick counts, so OHLC invariants hold
exactly and every value is a multiple of the tick. Every random stream is derived from
``(seed, symbol)`` with a stable hash, so a symbol's path does not depend on which other
symbols are generated with it, and the same seed gives bit-identical output.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from quantum_trader.data.bars import (
    DAY_MS,
    MINUTE_MS,
    BarSeries,
    DataError,
    FloatArray,
    IntArray,
    decimals_of,
)
from quantum_trader.data.symbols import SymbolsArg, SymbolSpec, resolve_symbols

MINUTES_PER_YEAR = 525_600
VOL_STEP_MINUTES = 60  # GARCH and regime chain advance once per hour
DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


@dataclass(frozen=True, slots=True)
class Regime:
    """A market state: annual log drift, volatility multiplier and funding bias."""

    name: str
    annual_drift: float
    vol_multiplier: float
    funding_bias: float


BULL = Regime("bull", 0.9, 1.0, 0.00012)
BEAR = Regime("bear", -0.9, 1.4, -0.0001)
RANGE = Regime("range", 0.0, 0.7, 0.0)


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """Knobs of the synthetic market; defaults look like a 2024 crypto market."""

    seed: int = 0
    start_ms: int = DEFAULT_START_MS
    annual_vol: float = 0.45
    correlation: float = 0.6
    regimes: tuple[Regime, ...] = (BULL, BEAR, RANGE)
    regime_hours: float = 96.0  # mean time spent in a regime
    garch_alpha: float = 0.08
    garch_beta: float = 0.9
    tail_df: float = 4.0
    jumps_per_day: float = 0.5
    jump_size: float = 0.007  # mean |log jump| for a vol multiplier of 1
    intraday_amplitude: float = 0.3
    open_gap_prob: float = 0.03  # chance that an open differs from the previous close by a tick
    # A planted, learnable edge (0: none): each symbol drifts by ``planted_drift`` × its
    # bar volatility × a hidden hourly AR(1) state of persistence ``planted_persistence``,
    # so recent returns predict the next ones. For testing that a model finds an edge.
    planted_drift: float = 0.0
    planted_persistence: float = 0.9

    def __post_init__(self) -> None:
        checks = [
            (self.seed >= 0, "seed must be ≥ 0"),
            (self.start_ms % MINUTE_MS == 0, "start_ms must be on a minute boundary"),
            (self.annual_vol > 0, "annual_vol must be positive"),
            (0.0 <= self.correlation <= 1.0, "correlation must be within [0, 1]"),
            (len(self.regimes) >= 1, "give at least one regime"),
            (self.regime_hours >= 1, "regime_hours must be at least 1"),
            (self.garch_alpha >= 0 and self.garch_beta >= 0, "GARCH weights must be ≥ 0"),
            (self.garch_alpha + self.garch_beta < 1, "garch_alpha + garch_beta must be < 1"),
            (self.tail_df > 2, "tail_df must be > 2 (finite variance)"),
            (self.jumps_per_day >= 0 and self.jump_size >= 0, "jumps must be ≥ 0"),
            (0 <= self.intraday_amplitude < 1, "intraday_amplitude must be within [0, 1)"),
            (0 <= self.open_gap_prob <= 1, "open_gap_prob must be within [0, 1]"),
            (self.planted_drift >= 0, "planted_drift must be ≥ 0"),
            (0 <= self.planted_persistence < 1, "planted_persistence must be within [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(f"MarketConfig: {message}")


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticMarket:
    """Generated 1 m bars per symbol plus the regime index of every minute."""

    config: MarketConfig
    specs: dict[str, SymbolSpec]
    bars: dict[str, BarSeries]
    regime: NDArray[np.int8] = field(repr=False)

    @property
    def symbols(self) -> list[str]:
        return list(self.bars)


def seeded_rng(seed: int, stream: int, name: str = "") -> np.random.Generator:
    """A generator for one named stream of one seed, independent of every other stream."""
    # crc32 rather than hash(): str hashes are salted per process.
    entropy = [seed, stream, zlib.crc32(name.encode())]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _student_t(rng: np.random.Generator, df: float, n: int) -> FloatArray:
    """Unit-variance Student-t shocks."""
    return rng.standard_t(df, n) * math.sqrt((df - 2.0) / df)


def _minute_of_day(open_time: IntArray) -> FloatArray:
    return ((open_time % DAY_MS) // MINUTE_MS).astype(np.float64)


def _price_seasonality(open_time: IntArray, amplitude: float) -> FloatArray:
    # Peak around 14:30 UTC (US open); normalised so the mean variance over a day is 1.
    raw = 1.0 + amplitude * np.cos(2 * np.pi * (_minute_of_day(open_time) / 1440.0 - 14.5 / 24))
    return raw / math.sqrt(1.0 + amplitude * amplitude / 2.0)


def _volume_seasonality(open_time: IntArray) -> FloatArray:
    daily = 1.0 + 0.45 * np.cos(2 * np.pi * (_minute_of_day(open_time) / 1440.0 - 14.5 / 24))
    weekday = ((open_time // DAY_MS) + 3) % 7  # 0 = Monday
    return daily * np.where(weekday >= 5, 0.7, 1.0)


def _regime_path(cfg: MarketConfig, n_steps: int) -> NDArray[np.int8]:
    rng = seeded_rng(cfg.seed, 0, "regime")
    n_regimes = len(cfg.regimes)
    state = int(rng.integers(n_regimes))
    path = np.empty(n_steps, np.int8)
    if n_regimes == 1:
        path.fill(0)
        return path
    switch = rng.random(n_steps) < 1.0 / cfg.regime_hours
    shift = rng.integers(1, n_regimes, n_steps)  # move to one of the *other* regimes
    last = 0
    for k in np.flatnonzero(switch):
        path[last:k] = state
        state = (state + int(shift[k])) % n_regimes
        last = int(k)
    path[last:] = state
    return path


@dataclass(frozen=True, slots=True)
class _MarketShocks:
    regime_step: NDArray[np.int8]  # regime of each hourly step
    variance: FloatArray  # GARCH variance of each hourly step (mean 1)
    z_market: FloatArray
    jump_market: FloatArray  # shared jumps for a vol multiplier of 1


def _market_shocks(cfg: MarketConfig, open_time: IntArray, n_steps: int) -> _MarketShocks:
    """Shared factor, shared jumps, regimes and the market-wide GARCH variance.

    Volatility clustering is market-wide (as in crypto, where one liquidation cascade hits
    every coin), which also keeps the realised cross-correlation close to the configured one.
    """
    n = len(open_time)
    rng = seeded_rng(cfg.seed, 1, "market")
    z = _student_t(rng, cfg.tail_df, n)
    jumps = np.zeros(n)
    hit = np.flatnonzero(rng.random(n) < cfg.jumps_per_day * cfg.correlation / 1440.0)
    jumps[hit] = rng.laplace(0.0, cfg.jump_size, len(hit))
    regime = _regime_path(cfg, n_steps)
    vol_mult = np.array([r.vol_multiplier for r in cfg.regimes])[regime]
    hour_sigma = cfg.annual_vol * math.sqrt(VOL_STEP_MINUTES / MINUTES_PER_YEAR) * vol_mult
    starts = np.arange(0, n, VOL_STEP_MINUTES)
    season = _price_seasonality(open_time, cfg.intraday_amplitude)
    diffusive = np.add.reduceat(season * z, starts) / math.sqrt(VOL_STEP_MINUTES)
    hour_jumps = np.add.reduceat(jumps, starts) / hour_sigma
    return _MarketShocks(regime, _garch_path(cfg, diffusive, hour_jumps), z, jumps)


def _garch_path(cfg: MarketConfig, diffusive: FloatArray, jumps: FloatArray) -> FloatArray:
    """Hourly GARCH(1,1) variance ``h`` (unconditional mean 1).

    ``diffusive[k]`` is the hour's standardised shock sum, ``jumps[k]`` its jump return in
    units of the hour's base volatility; the realised hourly return feeds the next hour.
    """
    a, b = cfg.garch_alpha, cfg.garch_beta
    omega = 1.0 - a - b
    h = np.empty(len(diffusive))
    hk = 1.0
    for k, (d, j) in enumerate(zip(diffusive.tolist(), jumps.tolist(), strict=True)):
        h[k] = hk
        shock = math.sqrt(hk) * d + j
        hk = min(omega + a * shock * shock + b * hk, 50.0)
    return h


def _planted_state(cfg: MarketConfig, symbol: str, n: int) -> FloatArray:
    """The hidden hourly AR(1) state (unit variance) behind ``planted_drift``."""
    steps = -(-n // VOL_STEP_MINUTES)
    rng = seeded_rng(cfg.seed, 3, symbol)  # its own stream: other paths do not move
    phi = cfg.planted_persistence
    shocks = rng.standard_normal(steps) * math.sqrt(1.0 - phi * phi)
    state = np.empty(steps)
    level = rng.standard_normal()
    for k in range(steps):
        level = phi * level + shocks[k]
        state[k] = level
    return state


def _generate_symbol(
    spec: SymbolSpec, cfg: MarketConfig, market: _MarketShocks, open_time: IntArray
) -> BarSeries:
    n = len(open_time)
    rng = seeded_rng(cfg.seed, 2, spec.symbol)
    rho = cfg.correlation
    sigma = cfg.annual_vol * spec.vol_multiplier / math.sqrt(MINUTES_PER_YEAR)
    jump_scale = spec.vol_multiplier

    z_idio = _student_t(rng, cfg.tail_df, n)
    eps = math.sqrt(rho) * market.z_market + math.sqrt(1.0 - rho) * z_idio
    jumps = market.jump_market * jump_scale
    hit = np.flatnonzero(rng.random(n) < cfg.jumps_per_day * (1.0 - rho) / 1440.0)
    jumps[hit] += rng.laplace(0.0, cfg.jump_size * jump_scale, len(hit))

    season = _price_seasonality(open_time, cfg.intraday_amplitude)
    step_of = np.arange(n) // VOL_STEP_MINUTES
    vol_mult = np.array([r.vol_multiplier for r in cfg.regimes])[market.regime_step]
    drift = np.array([r.annual_drift for r in cfg.regimes])[market.regime_step]
    h = market.variance

    bar_sigma = (sigma * vol_mult * np.sqrt(h))[step_of] * season
    ret = bar_sigma * eps + jumps + (drift / MINUTES_PER_YEAR)[step_of]
    if cfg.planted_drift > 0:
        ret += cfg.planted_drift * bar_sigma * _planted_state(cfg, spec.symbol, n)[step_of]
    log_close = math.log(float(spec.start_price)) + np.cumsum(ret)

    tick = float(spec.tick_size)
    start_ticks = round(float(spec.start_price) / tick)
    close_t = np.maximum(np.rint(np.exp(log_close) / tick), 1.0)
    gap = np.where(rng.random(n) < cfg.open_gap_prob, rng.choice([-1.0, 1.0], n), 0.0)
    open_t = np.empty(n)
    open_t[0] = start_ticks
    open_t[1:] = np.maximum(close_t[:-1] + gap[1:], 1.0)
    top = np.maximum(open_t, close_t)
    bottom = np.minimum(open_t, close_t)
    # Intrabar excursions beyond the body: about half a bar's volatility on each side.
    high_t = np.maximum(np.rint(top * np.exp(0.5 * bar_sigma * rng.exponential(1.0, n))), top)
    low_t = np.maximum(
        np.minimum(np.rint(bottom * np.exp(-0.5 * bar_sigma * rng.exponential(1.0, n))), bottom),
        1.0,
    )

    price_dp = decimals_of(spec.tick_size)
    close = np.round(close_t * tick, price_dp)
    surprise = np.minimum(np.abs(ret) / np.maximum(bar_sigma, 1e-12), 10.0)
    activity = (
        _volume_seasonality(open_time)
        * (vol_mult * np.sqrt(h))[step_of] ** 0.8
        * (0.55 + 0.45 * surprise)
        * rng.lognormal(-0.125, 0.5, n)
    )
    step = float(spec.step_size)
    base_volume = spec.quote_volume_per_day / 1440.0 * activity / close
    volume = np.round(np.floor(base_volume / step) * step, decimals_of(spec.step_size))
    return BarSeries(
        spec.symbol,
        "1m",
        open_time,
        np.round(open_t * tick, price_dp),
        np.round(high_t * tick, price_dp),
        np.round(low_t * tick, price_dp),
        close,
        volume,
    )


def generate_market(
    symbols: SymbolsArg,
    n_bars: int,
    config: MarketConfig | None = None,
    on_symbol: Callable[[str], None] | None = None,
) -> SyntheticMarket:
    """Generate ``n_bars`` one-minute bars for every symbol (names or name -> spec mapping).

    ``on_symbol`` is called after each symbol is done (progress reporting).
    """
    cfg = config or MarketConfig()
    if n_bars < 1:
        raise DataError(f"n_bars must be at least 1, got {n_bars}")
    specs = resolve_symbols(symbols)
    n_steps = -(-n_bars // VOL_STEP_MINUTES)
    open_time = cfg.start_ms + np.arange(n_bars, dtype=np.int64) * MINUTE_MS
    market = _market_shocks(cfg, open_time, n_steps)
    bars = {}
    for spec in specs:
        bars[spec.symbol] = _generate_symbol(spec, cfg, market, open_time)
        if on_symbol is not None:
            on_symbol(spec.symbol)
    regime = market.regime_step[np.arange(n_bars) // VOL_STEP_MINUTES]
    return SyntheticMarket(cfg, {s.symbol: s for s in specs}, bars, regime)


def generate_bars(
    symbol: str | SymbolSpec, n_bars: int, config: MarketConfig | None = None
) -> BarSeries:
    """One symbol's 1 m bars (same values as in a multi-symbol ``generate_market``)."""
    arg: SymbolsArg = {symbol.symbol: symbol} if isinstance(symbol, SymbolSpec) else [symbol]
    market = generate_market(arg, n_bars, config)
    return next(iter(market.bars.values()))
