"""From command-line choices to a result: load or generate bars, pick the fill model, run.

``ref_ema_cross`` runs on the reference fill model (bench/REFERENCE_STRATEGY.md) unless
the exchange model is asked for; with several symbols each gets an equal share of the
balance as its own sub-account (the reference trades one symbol with all its cash).
Every other strategy runs on the general engine: one cross-margin account on the
simulated exchange. Funding-rate dumps found with the kline files
(``SYMBOL-fundingRate-….csv/.zip``, real or from ``quantum data synth``) set the
exchange's funding rates for their symbols; without them it charges the flat rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import Progress, run_engine
from quantum_trader.backtest.reference import REFERENCE_FEE, run_reference
from quantum_trader.backtest.trades import BacktestResult, merge_results
from quantum_trader.data import (
    DEFAULT_SYMBOLS,
    BarSeries,
    DataError,
    MarketConfig,
    generate_market,
    interval_ms,
    load_all,
    resample,
)
from quantum_trader.data.funding import FundingSeries, find_funding

MINUTES_PER_DAY = 1_440


class FillModel(StrEnum):
    AUTO = "auto"
    REFERENCE = "reference"
    EXCHANGE = "exchange"


class InputError(ValueError):
    """A choice that cannot work; ``option`` names the flag to fix."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    strategy: str
    data: Path | None = None
    synthetic: bool = False
    symbols: tuple[str, ...] = ()
    timeframe: str | None = None
    days: int | None = None
    start: str | None = None
    end: str | None = None
    seed: int = 0
    fill_model: FillModel = FillModel.AUTO
    balance: Decimal | None = None
    fee: Decimal | None = None
    params: dict[str, object] = field(default_factory=dict)
    engine: EngineConfig = field(default_factory=EngineConfig)


@dataclass(frozen=True, slots=True, eq=False)
class BacktestRun:
    result: BacktestResult
    series: dict[str, BarSeries]
    seconds: float
    fill_model: FillModel


def parse_day(option: str, text: str) -> int:
    """``YYYY-MM-DD`` (or an ISO date-time) as ms since the epoch, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(option, f"{text!r} is not a date; use YYYY-MM-DD") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def load_series(request: BacktestRequest) -> list[BarSeries]:
    """The bars the request selects, one series per symbol, all at one interval."""
    if request.synthetic:
        series = _synthetic(request)
    elif request.data is None:
        raise InputError("--data", "no market data given; pass --data PATH or --synthetic")
    else:
        series = _from_files(request, request.data)
    series = [_window(s, request) for s in series]
    empty = [s.symbol for s in series if len(s) < 2]
    if empty:
        raise InputError(
            "--start/--end", f"no bars left for {', '.join(empty)}; widen the date range"
        )
    return series


def _synthetic(request: BacktestRequest) -> list[BarSeries]:
    symbols = list(request.symbols) or ["BTCUSDT"]
    unknown = [s for s in symbols if s not in DEFAULT_SYMBOLS]
    if unknown:
        raise InputError(
            "--symbols",
            f"no synthetic market for {', '.join(unknown)}; known: {', '.join(DEFAULT_SYMBOLS)}",
        )
    days = request.days or 30
    if days <= 0:
        raise InputError("--days", f"must be positive, got {days}")
    market = generate_market(symbols, days * MINUTES_PER_DAY, MarketConfig(seed=request.seed))
    bars = [market.bars[s] for s in symbols]
    if request.timeframe and request.timeframe != "1m":
        bars = [_resample(s, request.timeframe) for s in bars]
    return bars


def _from_files(request: BacktestRequest, path: Path) -> list[BarSeries]:
    if not path.exists():
        raise InputError("--data", f"{path} does not exist; give a kline file or a directory")
    try:
        loaded = [r.series for r in load_all(path, allow_gaps=True)]
    except DataError as exc:
        raise InputError("--data", str(exc)) from None
    if not loaded:
        raise InputError(
            "--data", f"no kline files under {path}; expected names like BTCUSDT-1m-2024-01.zip"
        )
    if request.symbols:
        missing = [s for s in request.symbols if s not in {x.symbol for x in loaded}]
        if missing:
            found = ", ".join(sorted({x.symbol for x in loaded}))
            raise InputError("--symbols", f"{', '.join(missing)} not in {path} (found: {found})")
        loaded = [s for s in loaded if s.symbol in request.symbols]
    chosen: dict[str, BarSeries] = {}
    for series in sorted(loaded, key=lambda s: interval_ms(s.interval)):
        if request.timeframe and series.interval == request.timeframe:
            chosen[series.symbol] = series
        elif series.symbol not in chosen and (
            not request.timeframe or interval_ms(series.interval) < interval_ms(request.timeframe)
        ):
            chosen.setdefault(series.symbol, series)  # finest interval first
    if not chosen:
        raise InputError(
            "--timeframe", f"no series in {path} at or below {request.timeframe}; pick another"
        )
    out = []
    for series in chosen.values():
        if request.timeframe and series.interval != request.timeframe:
            series = _resample(series, request.timeframe)
        out.append(series)
    return out


def _resample(series: BarSeries, timeframe: str) -> BarSeries:
    try:
        return resample(series, timeframe)
    except DataError as exc:
        raise InputError("--timeframe", str(exc)) from None


def _window(series: BarSeries, request: BacktestRequest) -> BarSeries:
    if request.start or request.end:
        lo = parse_day("--start", request.start) if request.start else 0
        hi = parse_day("--end", request.end) if request.end else 2**62
        if hi <= lo:
            raise InputError("--start/--end", "the end must be after the start")
        series = series.between(lo, hi)
    if request.days and not request.synthetic and len(series):
        cutoff = int(series.open_time[-1]) - request.days * 86_400_000
        series = series.between(cutoff + 1, 2**62)
    return series


def run_backtest(
    request: BacktestRequest,
    progress: Progress | None = None,
    on_loaded: Callable[[list[BarSeries]], None] | None = None,
) -> BacktestRun:
    series = load_series(request)
    if on_loaded is not None:
        on_loaded(series)
    model = request.fill_model
    if model is FillModel.AUTO:
        model = FillModel.REFERENCE if request.strategy == "ref_ema_cross" else FillModel.EXCHANGE
    if model is FillModel.REFERENCE and request.strategy != "ref_ema_cross":
        raise InputError("--fill-model", "the reference fill model runs ref_ema_cross only")
    started = time.perf_counter()
    if model is FillModel.REFERENCE:
        result = _reference(request, series)
    else:
        engine, funding = request.engine, load_funding(request, series)
        result = run_engine(series, request.strategy, engine, request.params, progress, funding)
    seconds = time.perf_counter() - started
    return BacktestRun(result, {s.symbol: s for s in series}, seconds, model)


def load_funding(request: BacktestRequest, series: list[BarSeries]) -> dict[str, FundingSeries]:
    """Funding rates recorded beside the request's kline files, for its symbols."""
    if request.data is None or request.synthetic:
        return {}
    try:
        return find_funding(request.data, [s.symbol for s in series])
    except DataError as exc:
        raise InputError("--data", str(exc)) from None


def _reference(request: BacktestRequest, series: list[BarSeries]) -> BacktestResult:
    allowed = {"stop_pct", "target_pct"}
    extra = sorted(set(request.params) - allowed)
    if extra:
        raise InputError("--param", f"the reference takes only stop_pct/target_pct, not {extra}")
    stop = float(str(request.params.get("stop_pct", 0.02)))
    target = float(str(request.params.get("target_pct", 0.03)))
    balance = float(request.balance) if request.balance is not None else 100_000.0
    fee = float(request.fee) if request.fee is not None else REFERENCE_FEE
    share = balance / len(series)
    parts = [
        run_reference(s, stop_pct=stop, target_pct=target, fee=fee, cash=share) for s in series
    ]
    return merge_results(parts, "ref_ema_cross")
