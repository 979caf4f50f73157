"""The simulated exchange's tradable universe: instruments loaded from ``universe.json``.

The JSON mirrors /fapi/v1/exchangeInfo filters and /fapi/v1/leverageBracket tiers so the
values can be diffed against recorded Binance responses.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

from quantum_trader.domain.instruments import Instrument, LeverageBracket


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


def default_universe() -> dict[str, Instrument]:
    """Every perpetual in the packaged universe.json, by symbol."""
    text = resources.files(__package__).joinpath("universe.json").read_text(encoding="utf-8")
    document = json.loads(text)
    return {e["symbol"]: instrument_from_json(e) for e in document["symbols"]}
