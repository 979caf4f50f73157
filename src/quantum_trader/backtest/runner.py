"""From command-line choices to a result: load or generate bars, run the one engine.

Every strategy runs on the backtest engine: the services' decisions, the simulated
exchange's matching core, one cross-margin account. A strategy that prescribes its own
execution rules (``ref_ema_cross``: bench/REFERENCE_STRATEGY.md) has them applied by the
engine, and its account defaults (100,000 USDT, 0.04 % fee) unless the request sets
them; ``strategy_rules=False`` in the engine config trades its signals under the system's
rules instead. Funding-rate dumps found with the kline files (``SYMBOL-fundingRate-
….csv/.zip``, real or from ``quantum data synth``) set the exchange's funding rates for
their symbols; without them it charges the flat rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import (
    Progress,
    funding_schedule,
    run_engine,
    settled_funding,
    strategy_names,
)
from quantum_trader.backtest.lookahead import check_lookahead
from quantum_trader.backtest.lookahead_changes import LookaheadReport
from quantum_trader.backtest.profile import account_defaults, apply_profile, profile_of
from quantum_trader.backtest.signals import StrategySpec
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.data import (
    DEFAULT_SYMBOLS,
    BarSeries,
    DataError,
    LoadResult,
    MarketConfig,
    generate_market,
    interval_ms,
    load_all,
    resample,
)
from quantum_trader.data.binance import UnnamedSeries
from quantum_trader.data.funding import FundingSeries, find_funding
from quantum_trader.data.marks import (
    NO_MARKS,
    SYNTHETIC,
    MarkBars,
    find_marks,
    mark_bars,
    synthetic_marks,
)
from quantum_trader.data.synthetic import SyntheticMarket

MINUTES_PER_DAY = 1_440


class InputError(ValueError):
    """A choice that cannot work; ``option`` names the flag to fix."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    strategy: str | tuple[str, ...]  # several: traded together, in this order
    data: Path | None = None
    synthetic: bool = False
    symbols: tuple[str, ...] = ()
    timeframe: str | None = None
    days: int | None = None
    start: str | None = None
    end: str | None = None
    seed: int = 0
    balance: Decimal | None = None  # None: the strategy's default, else the engine's
    fee: Decimal | None = None
    params: dict[str, object] = field(default_factory=dict)
    engine: EngineConfig = field(default_factory=EngineConfig)
    repair: bool = False  # repair the --data files before the run
    symbol: str | None = None  # the series of a single --data file not named like a dump
    interval: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class LoadedBars:
    """The bars a request selects, and what loading the files found and repaired."""

    series: list[BarSeries]
    files: list[LoadResult] = field(default_factory=list)
    marks: MarkBars = NO_MARKS  # the mark's own bars (markPriceKlines files, synthetic)


@dataclass(frozen=True, slots=True, eq=False)
class BacktestRun:
    result: BacktestResult
    series: dict[str, BarSeries]
    seconds: float
    files: list[LoadResult] = field(default_factory=list)
    strategy_rules: bool = False  # the strategy's own execution rules were applied


def parse_day(option: str, text: str) -> int:
    """``YYYY-MM-DD`` (or an ISO date-time) as ms since the epoch, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(option, f"{text!r} is not a date; use YYYY-MM-DD") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def load_bars(request: BacktestRequest) -> LoadedBars:
    """The bars the request selects, one series per symbol, all at one interval."""
    label = "files"
    if request.synthetic:
        market, bars = _synthetic(request)
        loaded = LoadedBars(bars)
        found = {s.symbol: synthetic_marks(market, s.symbol, s) for s in bars}
        label = SYNTHETIC
    elif request.data is None:
        raise InputError("--data", "no market data given; pass --data PATH or --synthetic")
    else:
        loaded = _from_files(request, request.data)
        try:
            found = find_marks(request.data, [s.symbol for s in loaded.series])
        except DataError as exc:
            raise InputError("--data", str(exc)) from None
    series = [_window(s, request) for s in loaded.series]
    empty = [s.symbol for s in series if len(s) < 2]
    if empty:
        raise InputError(
            "--start/--end", f"no bars left for {', '.join(empty)}; widen the date range"
        )
    try:
        marks = mark_bars(series, found, label)
    except DataError as exc:
        raise InputError("--data", str(exc)) from None
    return LoadedBars(series, loaded.files, marks)


def _synthetic(request: BacktestRequest) -> tuple[SyntheticMarket, list[BarSeries]]:
    symbols = list(request.symbols) or ["BTCUSDT"]
    unknown = [s for s in symbols if s not in DEFAULT_SYMBOLS]
    if unknown:
        raise InputError(
            "--symbols",
            f"no synthetic market for {', '.join(unknown)}; known: {', '.join(DEFAULT_SYMBOLS)}",
        )
    days = 30 if request.days is None else request.days
    if days <= 0:
        raise InputError("--days", f"must be positive, got {days}")
    market = generate_market(symbols, days * MINUTES_PER_DAY, MarketConfig(seed=request.seed))
    bars = [market.bars[s] for s in symbols]
    if request.timeframe and request.timeframe != "1m":
        bars = [_resample(s, request.timeframe) for s in bars]
    return market, bars


def _from_files(request: BacktestRequest, path: Path) -> LoadedBars:
    if not path.exists():
        raise InputError("--data", f"{path} does not exist; give a kline file or a directory")
    try:
        files = load_all(
            path,
            repair=request.repair,
            allow_gaps=True,
            symbol=request.symbol,
            interval=request.interval,
        )
    except UnnamedSeries as exc:  # this command can name the series itself
        raise InputError("--data", f"{exc}; or pass --symbol and --interval") from None
    except DataError as exc:
        raise InputError("--data", str(exc)) from None
    loaded = [r.series for r in files]
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
    return LoadedBars(out, files)


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
    if request.days is not None and request.days <= 0:
        raise InputError("--days", f"must be positive, got {request.days}")
    if request.days and not request.synthetic and len(series):
        cutoff = int(series.open_time[-1]) - request.days * 86_400_000
        series = series.between(cutoff + 1, 2**62)
    return series


def engine_config(request: BacktestRequest) -> EngineConfig:
    """The request's engine config with the account it asked for, or the strategy's."""
    balance, fee = account_defaults(profile_of(request.strategy, request.params))
    config = request.engine
    if not config.strategy_rules:
        balance = fee = None  # the system's rules, the system's account defaults
    balance = request.balance if request.balance is not None else balance
    fee = request.fee if request.fee is not None else fee
    if balance is not None:
        config = replace(config, balance=balance)
    if fee is not None:
        config = replace(config, taker_fee=fee)
    return config


def run_backtest(
    request: BacktestRequest,
    progress: Progress | None = None,
    on_loaded: Callable[[LoadedBars], None] | None = None,
) -> BacktestRun:
    loaded = load_bars(request)
    if on_loaded is not None:
        on_loaded(loaded)
    config = engine_config(request)
    ruled = config.strategy_rules and profile_of(request.strategy, request.params) is not None
    started = time.perf_counter()
    funding = load_funding(request, loaded.series)
    result = run_engine(
        loaded.series, request.strategy, config, request.params, progress, funding, loaded.marks
    )
    seconds = time.perf_counter() - started
    series = {s.symbol: s for s in loaded.series}
    return BacktestRun(result, series, seconds, loaded.files, ruled)


def load_funding(request: BacktestRequest, series: list[BarSeries]) -> dict[str, FundingSeries]:
    """Funding rates recorded beside the request's kline files, for its symbols."""
    if request.data is None or request.synthetic:
        return {}
    try:
        return find_funding(request.data, [s.symbol for s in series])
    except DataError as exc:
        raise InputError("--data", str(exc)) from None


def strategy_funding(request: BacktestRequest, series: list[BarSeries]) -> dict[str, FundingSeries]:
    """The funding rates a run's strategies see (a feature of the model): what the
    exchange settles, as :func:`~quantum_trader.backtest.engine.build_replay` gives them."""
    config = apply_profile(engine_config(request), profile_of(request.strategy, request.params))
    recorded = load_funding(request, series)
    schedule, _ = funding_schedule([s.symbol for s in series], config, recorded)
    return settled_funding(schedule, series)


def lookahead_check(run: BacktestRun, request: BacktestRequest, samples: int) -> LookaheadReport:
    """``quantum backtest --lookahead-check``: the run's strategies on its bars
    (:mod:`quantum_trader.backtest.lookahead`), parameters as the run had them."""
    names = strategy_names(request.strategy)
    params = tuple(sorted(request.params.items())) if len(names) == 1 else ()
    series = list(run.series.values())
    return check_lookahead(
        series,
        [StrategySpec(name, params) for name in names],
        strategy_funding(request, series),
        samples=samples,
        seed=request.seed,
        workers=request.engine.workers,
    )
