"""Built-in USDⓈ-M perpetuals for synthetic markets: start price, tick, step, activity.

Values are plausible for 2024 (tick and step follow Binance's filters for these
contracts); they only seed the generator, they are not a source of exchange rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.data.bars import DataError


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How one synthetic symbol looks: where it starts, its grid and how lively it is."""

    symbol: str
    start_price: Decimal
    tick_size: Decimal
    step_size: Decimal = Decimal("0.001")
    vol_multiplier: float = 1.0  # × the market's base annual volatility
    quote_volume_per_day: float = 200e6  # USDT traded per day on average

    def __post_init__(self) -> None:
        if self.start_price <= 0 or self.tick_size <= 0 or self.step_size <= 0:
            raise DataError(f"{self.symbol}: start price, tick size and step size must be positive")
        if self.start_price < 10 * self.tick_size:
            raise DataError(
                f"{self.symbol}: start price {self.start_price} is under 10 ticks of "
                f"{self.tick_size}; use a smaller tick size"
            )


def _spec(symbol: str, price: str, tick: str, step: str, vol: float, qv: float) -> SymbolSpec:
    return SymbolSpec(symbol, Decimal(price), Decimal(tick), Decimal(step), vol, qv)


DEFAULT_SYMBOLS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        _spec("BTCUSDT", "60000", "0.10", "0.001", 1.0, 12e9),
        _spec("ETHUSDT", "3000", "0.01", "0.001", 1.2, 6e9),
        _spec("SOLUSDT", "150", "0.0100", "1", 1.6, 2e9),
        _spec("XRPUSDT", "0.6", "0.0001", "0.1", 1.5, 8e8),
        _spec("DOGEUSDT", "0.15", "0.000010", "1", 1.8, 1e9),
        _spec("BNBUSDT", "550", "0.010", "0.01", 1.1, 6e8),
        _spec("ADAUSDT", "0.45", "0.00010", "1", 1.6, 3e8),
        _spec("AVAXUSDT", "30", "0.0010", "1", 1.7, 3e8),
        _spec("LINKUSDT", "15", "0.001", "0.01", 1.6, 3e8),
        _spec("DOTUSDT", "6", "0.001", "0.1", 1.6, 2e8),
        _spec("TRXUSDT", "0.12", "0.00001", "1", 1.0, 1e8),
        _spec("LTCUSDT", "80", "0.01", "0.001", 1.3, 2e8),
        _spec("BCHUSDT", "400", "0.01", "0.001", 1.4, 2e8),
        _spec("NEARUSDT", "5", "0.0010", "1", 1.8, 2e8),
        _spec("ATOMUSDT", "8", "0.001", "0.01", 1.6, 1e8),
        _spec("UNIUSDT", "8", "0.0010", "1", 1.7, 1e8),
        _spec("APTUSDT", "9", "0.00010", "0.1", 1.8, 1e8),
        _spec("ARBUSDT", "1", "0.00010", "0.1", 1.8, 2e8),
        _spec("OPUSDT", "2", "0.0001000", "0.1", 1.8, 1e8),
        _spec("FILUSDT", "5", "0.001", "0.1", 1.7, 1e8),
        _spec("SUIUSDT", "1", "0.000100", "0.1", 2.0, 3e8),
        _spec("ETCUSDT", "25", "0.001", "0.01", 1.5, 1e8),
        _spec("INJUSDT", "25", "0.001000", "0.1", 2.0, 1e8),
        _spec("1000PEPEUSDT", "0.01", "0.0000001", "1", 2.4, 6e8),
        _spec("WLDUSDT", "2", "0.0001", "1", 2.2, 1e8),
    )
}


SymbolsArg = Sequence[str] | Mapping[str, SymbolSpec | tuple[Decimal | str, Decimal | str]]


def resolve_symbols(symbols: SymbolsArg) -> list[SymbolSpec]:
    """Turn names (looked up in ``DEFAULT_SYMBOLS``) or a mapping into specs, in order.

    A mapping value may be a full ``SymbolSpec`` or ``(start_price, tick_size)``; the rest
    then comes from the built-in spec of that name when there is one.
    """
    if isinstance(symbols, str):
        raise DataError("symbols: pass a list of names, not one string")
    specs: list[SymbolSpec] = []
    if isinstance(symbols, Mapping):
        for name, value in symbols.items():
            if isinstance(value, SymbolSpec):
                specs.append(value)
                continue
            price, tick = Decimal(str(value[0])), Decimal(str(value[1]))
            base = DEFAULT_SYMBOLS.get(name)
            if base is None:
                step = Decimal(1) if price < 10 else Decimal("0.001")
                specs.append(SymbolSpec(name, price, tick, step))
            else:
                specs.append(
                    SymbolSpec(
                        name,
                        price,
                        tick,
                        base.step_size,
                        base.vol_multiplier,
                        base.quote_volume_per_day,
                    )
                )
    else:
        for name in symbols:
            if name not in DEFAULT_SYMBOLS:
                raise DataError(
                    f"no built-in spec for {name!r}: pass a mapping symbol -> (start price, "
                    f"tick size), or use one of {', '.join(DEFAULT_SYMBOLS)}"
                )
            specs.append(DEFAULT_SYMBOLS[name])
    names = [s.symbol for s in specs]
    if len(set(names)) != len(names):
        raise DataError(f"symbols: each symbol may appear once, got {names}")
    if not specs:
        raise DataError("symbols: give at least one symbol")
    return specs
