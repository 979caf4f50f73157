"""The simulated exchange's tradable universe: instruments loaded from ``universe.json``,
plus instruments derived from market data for USDT-margined perpetuals it does not list.

The JSON mirrors /fapi/v1/exchangeInfo filters and /fapi/v1/leverageBracket tiers so the
values can be diffed against recorded Binance responses.

A backtest over data for a symbol the JSON lacks (``SUIUSDT``, a file you downloaded)
lists it with filters read off the data (``derive_instrument``): the tick from the
decimals the prices are written with, a quantity step worth at most ~10 USDT, Binance's
usual 5 USDT minimum notional and the most conservative leverage tiers of the packaged
universe. Only ``…USDT`` names are derived; anything else (spot ``XRPETH``, coin-margined
contracts) is refused with ``UnlistedSymbol`` naming it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from quantum_trader.domain.instruments import Instrument, LeverageBracket

USDM_SYMBOL = re.compile(r"^[A-Z0-9]{2,}USDT$")
DERIVED_MIN_NOTIONAL = Decimal(5)  # USDT; Binance's value for most perpetuals
STEP_NOTIONAL = 10.0  # one quantity step is worth at most about this many USDT
MIN_TICKS_PER_PRICE = 1_000  # the lowest price is at least this many ticks
MAX_DECIMALS = 10

_EXTRA: ContextVar[Mapping[str, Instrument] | None] = ContextVar("quantum_extra", default=None)


class UnlistedSymbol(ValueError):
    """A symbol the simulated exchange neither lists nor can derive; the message names it."""


def instrument_from_json(entry: dict[str, Any]) -> Instrument:
    """Build one ``Instrument`` from a universe.json entry."""
    filters = entry["filters"]
    price_filter = filters["PRICE_FILTER"]
    lot = filters["LOT_SIZE"]
    market_lot = filters["MARKET_LOT_SIZE"]
    brackets = tuple(
        LeverageBracket(
            bracket=int(b["bracket"]),
            max_leverage=int(b["initialLeverage"]),
            notional_floor=Decimal(b["notionalFloor"]),
            notional_cap=Decimal(b["notionalCap"]),
            maint_margin_ratio=Decimal(b["maintMarginRatio"]),
            cum=Decimal(b["cum"]),
        )
        for b in entry["brackets"]
    )
    return Instrument(
        symbol=entry["symbol"],
        base_asset=entry["baseAsset"],
        quote_asset=entry["quoteAsset"],
        tick_size=Decimal(price_filter["tickSize"]),
        min_price=Decimal(price_filter["minPrice"]),
        max_price=Decimal(price_filter["maxPrice"]),
        step_size=Decimal(lot["stepSize"]),
        min_qty=Decimal(lot["minQty"]),
        max_qty=Decimal(lot["maxQty"]),
        market_step_size=Decimal(market_lot["stepSize"]),
        market_min_qty=Decimal(market_lot["minQty"]),
        market_max_qty=Decimal(market_lot["maxQty"]),
        min_notional=Decimal(filters["MIN_NOTIONAL"]["notional"]),
        brackets=brackets,
        price_precision=int(entry["pricePrecision"]),
        quantity_precision=int(entry["quantityPrecision"]),
    )


@cache
def _packaged() -> tuple[Instrument, ...]:
    text = resources.files(__package__).joinpath("universe.json").read_text(encoding="utf-8")
    return tuple(instrument_from_json(e) for e in json.loads(text)["symbols"])


def packaged_universe() -> dict[str, Instrument]:
    """Every perpetual in the packaged universe.json, by symbol."""
    return {i.symbol: i for i in _packaged()}


def default_universe() -> dict[str, Instrument]:
    """The packaged perpetuals, plus any listed for the current block by ``extra_listings``."""
    return {**packaged_universe(), **(_EXTRA.get() or {})}


@contextmanager
def extra_listings() -> Iterator[dict[str, Instrument]]:
    """Within the block ``default_universe()`` also lists what is put into the yielded
    dict, so an exchange built with the default universe inside it trades those symbols.
    (For code that cannot pass ``instruments=universe_for(...)`` itself; the backtest
    engine passes it.)"""
    extra: dict[str, Instrument] = {}
    token = _EXTRA.set(extra)
    try:
        yield extra
    finally:
        _EXTRA.reset(token)


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals that write every value (to a thousandth of that last digit)."""
    for places in range(MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(values, places) - values) <= 10.0**-places * 1e-3):
            return places
    return MAX_DECIMALS


def _power_of_ten(exponent: int) -> Decimal:
    """10**exponent written plainly (``0.0001``, ``1000``), as exchangeInfo writes filters."""
    if exponent >= 0:
        return Decimal(10**exponent)
    return Decimal("0." + "0" * (-exponent - 1) + "1")


def check_listable(symbol: str) -> str:
    """``symbol`` if the simulator can list it (``…USDT``), else ``UnlistedSymbol``."""
    if not USDM_SYMBOL.match(symbol):
        raise UnlistedSymbol(
            f"{symbol} is not a USDⓈ-M symbol: the simulated exchange trades USDT-margined "
            "perpetuals (names ending in USDT, e.g. XRPUSDT)"
        )
    return symbol


def derive_instrument(symbol: str, prices: ArrayLike) -> Instrument:
    """A perpetual for ``symbol`` with filters that fit ``prices`` (its bars' OHLC)."""
    check_listable(symbol)
    values = np.asarray(prices, dtype=np.float64).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        raise UnlistedSymbol(f"{symbol}: no positive prices to derive its filters from")
    low, high = float(values.min()), float(values.max())
    places = max(_decimals(values), math.ceil(math.log10(MIN_TICKS_PER_PRICE / low)))
    places = min(places, MAX_DECIMALS)
    tick = _power_of_ten(-places)
    step_exp = min(0, max(-8, math.floor(math.log10(STEP_NOTIONAL / high))))
    step = _power_of_ten(step_exp)
    template = min(_packaged(), key=lambda i: (i.max_leverage, i.symbol)).brackets
    cap = max(b.notional_cap for b in template)
    max_qty = _power_of_ten(max(0, math.ceil(math.log10(float(cap) / low))))
    return Instrument(
        symbol=symbol,
        base_asset=symbol.removesuffix("USDT"),
        quote_asset="USDT",
        tick_size=tick,
        min_price=tick,
        max_price=_power_of_ten(max(3, math.ceil(math.log10(high * 1_000)))),
        step_size=step,
        min_qty=step,
        max_qty=max_qty,
        market_step_size=step,
        market_min_qty=step,
        market_max_qty=max(step, max_qty / 10),
        min_notional=DERIVED_MIN_NOTIONAL,
        brackets=template,
        price_precision=places,
        quantity_precision=-step_exp,
    )


def universe_for(prices: Mapping[str, ArrayLike]) -> dict[str, Instrument]:
    """The packaged universe plus a derived instrument for every symbol of ``prices``
    (symbol -> its bars' prices) that it lacks; ``UnlistedSymbol`` for one it cannot list."""
    universe = default_universe()
    for symbol, values in prices.items():
        if symbol not in universe:
            universe[symbol] = derive_instrument(symbol, values)
    return universe


def derive_missing(
    prices: Mapping[str, ArrayLike], into: dict[str, Instrument] | None = None
) -> list[Instrument]:
    """Derive an instrument for every symbol of ``prices`` the packaged universe lacks and
    return the derived ones (also put into ``into``, e.g. the dict of ``extra_listings``)."""
    listed = packaged_universe()
    derived = [derive_instrument(s, v) for s, v in prices.items() if s not in listed]
    if into is not None:
        into.update((i.symbol, i) for i in derived)
    return derived


def describe_derived(instrument: Instrument) -> str:
    """One line for a person: which filters were derived for an unlisted symbol."""
    i = instrument
    return (
        f"{i.symbol} is not in the simulated universe; filters derived from its bars: tick "
        f"{i.tick_size:f}, step {i.step_size:f}, min notional {i.min_notional} USDT, "
        f"leverage up to {i.max_leverage}x"
    )
