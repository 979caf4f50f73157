"""The simulated exchange's instruments for a scale run of about 400 perpetuals.

The contracts are ``data.scale_symbols``' listing: the 22 packaged perpetuals with
Binance's filters and leverage tiers as listed, then **derived** ones (``SYN023USDT`` …)
whose filters are copied from the packaged contract nearest in start price and moved by
the listing's power of ten: tick size, minimum and maximum price by ``10**shift``, the
quantity step (never above 1) and quantity limits by ``10**-shift``; the minimum notional
and the leverage brackets (notional tiers, so in USDT) unchanged. They are no Binance
listings: only the shape of their rules is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.data.scale_symbols import ScaleListing, scale_listings
from quantum_trader.data.symbols import SymbolSpec
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import fmt
from quantum_trader.exchange.sim.universe import packaged_universe


@dataclass(frozen=True)
class ScaleUniverse:
    """What a scale run needs: the venue's instruments and the generator's specs, in the
    same order (real contracts first)."""

    instruments: dict[str, Instrument]
    specs: dict[str, SymbolSpec]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.specs)


def _decimals(value: Decimal) -> int:
    return max(0, -int(value.as_tuple().exponent))


def _quantity(template: Decimal, shift: int, step: Decimal) -> Decimal:
    """A quantity limit moved by ``10**-shift``, kept a multiple of the step."""
    moved = template.scaleb(-shift)
    return Decimal(fmt(max(step, (moved // step) * step)))


def derived_instrument(listing: ScaleListing, template: Instrument) -> Instrument:
    """The instrument of a derived ``listing``, from the packaged ``template``."""
    spec, shift = listing.spec, listing.shift
    tick, step = template.tick_size.scaleb(shift), spec.step_size
    if tick != spec.tick_size:
        raise ValueError(f"{spec.symbol}: tick {tick} of {template.symbol} ≠ spec {spec.tick_size}")
    return Instrument(
        symbol=spec.symbol,
        base_asset=spec.symbol.removesuffix("USDT"),
        quote_asset="USDT",
        tick_size=spec.tick_size,
        min_price=Decimal(format(template.min_price.scaleb(shift), "f")),
        max_price=Decimal(fmt(template.max_price.scaleb(shift))),
        step_size=step,
        min_qty=step,
        max_qty=_quantity(template.max_qty, shift, step),
        market_step_size=step,
        market_min_qty=step,
        market_max_qty=_quantity(template.market_max_qty, shift, step),
        min_notional=template.min_notional,
        brackets=template.brackets,
        price_precision=_decimals(spec.tick_size),
        quantity_precision=_decimals(step),
    )


def scale_universe(n: int) -> ScaleUniverse:
    """``n`` perpetuals (1–999): the packaged ones first, then derived ones."""
    listed = packaged_universe()
    listings = scale_listings(n)
    instruments = {
        item.spec.symbol: (
            listed[item.spec.symbol]
            if item.template is None
            else derived_instrument(item, listed[item.template])
        )
        for item in listings
    }
    return ScaleUniverse(instruments, {item.spec.symbol: item.spec for item in listings})
