"""Strategy plugin interface: bars in, signals out, state as a value.

A strategy is a pure function of (state, closed bar) -> (new state, signal or None). It
reads no clock, does no IO, draws no random numbers; the signal-engine service feeds it
bars and publishes what it returns, and the backtester feeds it the same bars from a
file — so backtest, paper and live run the same decision code.

How to write a strategy plugin
------------------------------

1. Define the state as a frozen dataclass that extends :class:`StrategyState` with
   ``kw_only=True``. Hold indicators from :mod:`quantum_trader.strategies.indicators`
   (immutable, O(1) per bar) and whatever you remember about the previous bar::

       @dataclass(frozen=True, slots=True, kw_only=True)
       class GapState(StrategyState):
           prev_close: float = math.nan
           atr: Atr = field(default_factory=Atr.start)

2. Subclass ``Strategy[YourState]``, validate constructor keyword arguments with
   :mod:`quantum_trader.strategies.params` (errors name the parameter), set
   ``self.warmup`` (bars to see before any signal may be emitted), and implement
   ``initial_state(symbol)`` and ``advance(state, bar)``. ``advance`` returns a *new*
   state (``dataclasses.replace``), never mutates the one it was given: a caller may
   keep the old state as a snapshot, replay from it, or hand it to another process.
   Build signals with ``self.signal(bar, side, ...)`` so symbol, strategy name, bar
   time and reference price are filled in consistently::

       @register("gap_fade")
       class GapFade(Strategy[GapState]):
           def __init__(self, *, min_gap_atr: float = 1.0, stop_atr: float = 2.0) -> None:
               self.min_gap_atr = params.positive_float("min_gap_atr", min_gap_atr)
               self.stop_atr = params.positive_float("stop_atr", stop_atr)
               self.warmup = 15

           def initial_state(self, symbol: str) -> GapState:
               return GapState(symbol=symbol)

           def advance(self, state: GapState, bar: Bar) -> tuple[GapState, Signal | None]:
               atr = state.atr.update(bar.high, bar.low, bar.close)
               new_state = replace(state, prev_close=bar.close, atr=atr)
               gap = bar.open - state.prev_close
               if not atr.ready or abs(gap) < self.min_gap_atr * atr.value:
                   return new_state, None
               side = PositionSide.SHORT if gap > 0 else PositionSide.LONG
               strength = min(1.0, abs(gap) / atr.value / 3)  # a 3-ATR gap is the textbook
               return new_state, self.signal(
                   bar,
                   side,
                   confidence=0.5 + 0.5 * strength,
                   stop_distance=self.stop_atr * atr.value,
                   features={"regime": 0.0, "signal_strength": strength, "volatility_ratio": 1.0},
               )

3. Register it with ``@register("name")`` (lower-case, digits, underscores) and make
   sure the module is imported once (e.g. from your service's composition root);
   ``get_strategy("name", **params)`` then builds it from configuration. A second class
   under a taken name is refused; unknown names and parameters raise ``ValueError``
   with the known ones listed.

4. Features: attach at least ``regime`` (+1 / 0 / −1), ``signal_strength`` (0..1) and
   ``volatility_ratio`` (ATR now / its average) — the exit brain's inputs.
   :class:`quantum_trader.strategies.features.MarketFeatures` measures them the same
   way for every strategy (``market.snapshot(close, strength, **extra)``).

5. Test it like the built-ins (tests/unit/strategies): a hand-made series that must
   produce the signal, its mirror image that must produce the opposite side, a flat
   market and the warm-up that must produce nothing.

What the base class guarantees, so a plugin does not have to: bars of another symbol
are rejected (``ValueError``); a bar whose ``open_time`` is not after the last one
seen (a redelivery from the at-least-once bus, or out of order) leaves the state
unchanged and emits nothing; ``state.bars_seen`` is the 0-based index of the bar being
processed inside ``advance``; no signal leaves during the first ``warmup`` bars.

Signals carry prices as float *suggestions* (``stop_distance`` in price units, always
> 0): the sizing layer turns them into Decimal multiples of the instrument's tick.
``FLAT`` is a close signal ("exit what this strategy holds on the symbol"), not a side.

A strategy that is a *specification* — a benchmark whose trade list other backtesters
must reproduce, such as ``ref_ema_cross`` — declares how its signals are executed with
``engine_profile`` (:class:`EngineProfile`). The backtest engine applies it; a strategy
without one is executed by the system's own sizing and exit brain, as in paper and live.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from quantum_trader.decide.sizing import MAX_LEVERAGE
from quantum_trader.domain.enums import EntrySizing, ExitRules, PositionSide
from quantum_trader.strategies.params import ParamRange


class Exit(StrEnum):
    """The close signal: leave the position this strategy holds, whichever side it is."""

    FLAT = "FLAT"


FLAT = Exit.FLAT
SignalSide = PositionSide | Exit


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """How the backtest engine executes a strategy's signals, when the strategy prescribes
    it. The defaults are the system's own rules (what paper and live do).

    * ``sides``: sides an entry may take (``(LONG,)``: long only);
    * ``sizing`` / ``exits``: see :class:`EntrySizing` / :class:`ExitRules`; ``FIXED``
      exits are exchange-side reduce-only STOP_MARKET and TAKE_PROFIT_MARKET orders;
    * ``signal_exit``: a ``FLAT`` signal closes the position at the next bar's open;
    * ``continuous_quantity``: no lot or tick rounding, no minimum quantity or notional;
    * ``fills_at_levels``: a stop or target triggers on the bar's low / high, the stop
      first when both are in range, and fills exactly at its level (even through a gap);
    * ``slippage`` / ``funding`` / ``risk_limits``: False turns them off; ``leverage`` and
      ``cooldown_ms`` and ``history_bars`` (None: the engine's) are fixed by the profile;
    * ``balance`` / ``taker_fee``: the account a run defaults to when the user gives none.
    """

    sides: tuple[PositionSide, ...] = (PositionSide.LONG, PositionSide.SHORT)
    sizing: EntrySizing = EntrySizing.RISK
    exits: ExitRules = ExitRules.EXIT_BRAIN
    signal_exit: bool = False
    continuous_quantity: bool = False
    fills_at_levels: bool = False
    slippage: bool = True
    funding: bool = True
    risk_limits: bool = True
    leverage: int | None = None
    cooldown_ms: int | None = None
    history_bars: int | None = None
    balance: Decimal | None = None
    taker_fee: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.sides or len(set(self.sides)) != len(self.sides):
            raise ValueError(f"sides must name each side at most once, got {self.sides!r}")
        if self.leverage is not None and not 1 <= self.leverage <= MAX_LEVERAGE:
            raise ValueError(f"leverage must be 1..{MAX_LEVERAGE}, got {self.leverage}")
        if self.cooldown_ms is not None and self.cooldown_ms < 0:
            raise ValueError(f"cooldown_ms must be >= 0, got {self.cooldown_ms}")
        if self.history_bars is not None and self.history_bars < 0:
            raise ValueError(f"history_bars must be >= 0, got {self.history_bars}")


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle. Floats: this is indicator input, not an order price."""

    symbol: str
    interval: str
    open_time: int  # ms epoch UTC of the candle open, as Binance klines report it
    open: float
    high: float
    low: float
    close: float
    volume: float

    def __post_init__(self) -> None:
        if not self.symbol or not self.interval:
            raise ValueError("bar needs a symbol and an interval")
        prices = (self.open, self.high, self.low, self.close, self.volume)
        if not all(math.isfinite(value) for value in prices):
            raise ValueError(f"bar {self.symbol}@{self.open_time} has a non-finite value")
        if not self.low <= min(self.open, self.close) <= max(self.open, self.close) <= self.high:
            raise ValueError(f"bar {self.symbol}@{self.open_time}: open/close outside low..high")
        if self.volume < 0.0:
            raise ValueError(f"bar {self.symbol}@{self.open_time}: negative volume")


def intent_id(strategy: str, symbol: str, bar_time: int, side: SignalSide | str) -> str:
    """Stable id of "this strategy said this side on this symbol at this bar".

    Derived, never random, so a signal recomputed after a restart or a redelivered bar
    has the same id and downstream dedupe drops the copy.
    """
    key = f"{strategy}|{symbol}|{bar_time}|{side}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's opinion at the close of one bar, before any sizing or risk check."""

    symbol: str
    side: SignalSide
    confidence: float  # 0..1, how strongly the setup qualifies
    strategy: str
    bar_time: int  # open_time of the bar that produced the signal
    price: float  # that bar's close: the reference the distances are measured from
    stop_distance: float  # suggested protective-stop distance in price units, > 0
    take_profit_distance: float | None = None
    stop_pct: float | None = None  # fixed-fraction stop/target, when the strategy uses them
    target_pct: float | None = None
    features: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence!r}")
        if not (math.isfinite(self.stop_distance) and self.stop_distance > 0.0):
            raise ValueError(f"stop_distance must be positive, got {self.stop_distance!r}")
        for label, value in (
            ("take_profit_distance", self.take_profit_distance),
            ("stop_pct", self.stop_pct),
            ("target_pct", self.target_pct),
        ):
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{label} must be positive when given, got {value!r}")
        if not all(math.isfinite(value) for value in self.features.values()):
            raise ValueError(f"features must be finite: {dict(self.features)!r}")
        # A read-only copy: the exit brain must not be able to alter what was signalled.
        object.__setattr__(self, "features", MappingProxyType(dict(self.features)))

    @property
    def is_exit(self) -> bool:
        return self.side is Exit.FLAT

    @property
    def intent_id(self) -> str:
        return intent_id(self.strategy, self.symbol, self.bar_time, self.side)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyState:
    """What every strategy state knows: its symbol and where it is in the bar sequence."""

    symbol: str
    bars_seen: int = 0
    last_open_time: int | None = None


StateT = TypeVar("StateT", bound=StrategyState)


class Strategy(ABC, Generic[StateT]):
    """A pure, deterministic signal generator. See the module docstring for a how-to."""

    name: str = "unregistered"
    warmup: int = 0
    engine_profile: EngineProfile | None = None  # None: the system's sizing and exits
    # where ``quantum hyperopt`` searches each parameter by default (none: nothing to tune)
    search_space: ClassVar[Mapping[str, ParamRange]] = MappingProxyType({})

    @abstractmethod
    def initial_state(self, symbol: str) -> StateT:
        """State before any bar of ``symbol`` has been seen."""

    @abstractmethod
    def advance(self, state: StateT, bar: Bar) -> tuple[StateT, Signal | None]:
        """Fold one new closed bar into the state; ``state.bars_seen`` is its 0-based index."""

    def on_bar(self, state: StateT, bar: Bar) -> tuple[StateT, Signal | None]:
        """Process one closed bar: returns the new state and at most one signal."""
        if bar.symbol != state.symbol:
            raise ValueError(f"{self.name}: bar for {bar.symbol} fed to {state.symbol} state")
        if state.last_open_time is not None and bar.open_time <= state.last_open_time:
            return state, None
        advanced, signal = self.advance(state, bar)
        advanced = replace(advanced, bars_seen=state.bars_seen + 1, last_open_time=bar.open_time)
        if state.bars_seen < self.warmup:
            # Indicators are still converging from their seeds: their crosses mean nothing.
            return advanced, None
        return advanced, signal

    def signal(
        self,
        bar: Bar,
        side: SignalSide,
        *,
        confidence: float,
        stop_distance: float,
        features: Mapping[str, float],
        take_profit_distance: float | None = None,
        stop_pct: float | None = None,
        target_pct: float | None = None,
    ) -> Signal:
        """A signal stamped with this strategy's name and the bar that produced it."""
        return Signal(
            symbol=bar.symbol,
            side=side,
            confidence=min(1.0, max(0.0, confidence)),
            strategy=self.name,
            bar_time=bar.open_time,
            price=bar.close,
            stop_distance=stop_distance,
            take_profit_distance=take_profit_distance,
            stop_pct=stop_pct,
            target_pct=target_pct,
            features=features,
        )


AnyStrategy = Strategy[Any]


def fold_signals(
    strategy: AnyStrategy, symbol: str, interval: str, columns: Sequence[Sequence[float]]
) -> dict[int, Signal]:
    """Bar index -> the signal ``strategy`` emits at that bar's close, folding ``on_bar``
    over ``columns`` (open_time, open, high, low, close, volume; oldest first)."""
    state = strategy.initial_state(symbol)
    out: dict[int, Signal] = {}
    for i, (t, o, h, low, c, v) in enumerate(zip(*columns, strict=True)):
        state, signal = strategy.on_bar(state, Bar(symbol, interval, int(t), o, h, low, c, v))
        if signal is not None:
            out[i] = signal
    return out


StrategyClassT = TypeVar("StrategyClassT", bound=type[AnyStrategy])

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, type[AnyStrategy]] = {}


def register(name: str) -> Callable[[StrategyClassT], StrategyClassT]:
    """Class decorator: make a strategy available to :func:`get_strategy` under ``name``."""
    if not _NAME.match(name):
        raise ValueError(f"strategy name {name!r} must be lower_snake_case")

    def decorate(cls: StrategyClassT) -> StrategyClassT:
        known = _REGISTRY.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            # Silently shadowing a built-in would trade a different strategy than configured.
            raise ValueError(f"strategy {name!r} is already registered by {known.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[AnyStrategy]:
    """The class registered as ``name`` (ValueError naming the known ones)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(available())}")
    return cls


def strategy_parameters(name: str) -> dict[str, object]:
    """The keyword parameters of strategy ``name`` with their defaults."""
    accepted = inspect.signature(strategy_class(name)).parameters
    return {
        p.name: p.default for p in accepted.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def get_strategy(name: str, **params: object) -> AnyStrategy:
    """Build the strategy registered as ``name`` with keyword parameters from configuration."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(available())}")
    accepted = inspect.signature(cls).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not open_ended:
        raise ValueError(
            f"strategy {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    factory: Callable[..., AnyStrategy] = cls
    return factory(**params)
