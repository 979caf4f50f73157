"""A stop an operator moves by hand: only tighter, never through the price.

The apply layer places a moved stop before it cancels the old one, and a stop the
exchange refuses (one that would trigger at once, -2021) leaves the position closed at
market — so a hand-typed stop on the wrong side of the price would be a market exit.
A move is therefore accepted only when it is:

* a price on the instrument's tick grid;
* tighter than the stop in force (higher for a LONG, lower for a SHORT);
* on the protective side of the last price, at least ``min_distance`` (a fraction of
  it) away, so the price can move a little between the check and the placement.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import fmt, is_multiple


class StopRefused(ValueError):
    """Why this stop is not accepted (nothing is sent)."""


def checked_stop(
    position: LedgerPosition,
    text: str,
    mark: Decimal | None,
    instrument: Instrument | None,
    min_distance: Decimal,
) -> Decimal:
    """The new stop price ``text`` if it is a safe tightening of ``position``'s stop."""
    try:
        stop = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise StopRefused(f"{text!r} is not a price") from None
    if not stop.is_finite() or stop <= 0:
        raise StopRefused("a stop price must be a positive number")
    if instrument is None:
        raise StopRefused(f"{position.symbol}'s tick size is not known here: move it elsewhere")
    if not is_multiple(stop, instrument.tick_size):
        raise StopRefused(f"{fmt(stop)} is not a multiple of the tick {fmt(instrument.tick_size)}")
    if mark is None:
        raise StopRefused(f"no recent price for {position.symbol}: the stop cannot be checked")
    sign = position.side.sign
    current = position.stop_price
    if current > 0 and (stop - current) * sign <= 0:
        word = "above" if sign > 0 else "below"
        raise StopRefused(
            f"a stop may only be tightened: {fmt(stop)} is not {word} the current {fmt(current)}"
        )
    limit = mark * (1 - min_distance * sign)
    if (limit - stop) * sign < 0:
        side = "below" if sign > 0 else "above"
        raise StopRefused(
            f"{fmt(stop)} is not {side} the last price {fmt(mark)} by at least "
            f"{fmt(min_distance * 100)} %: the exchange would trigger it at once"
        )
    return stop
