"""Entry sizing and stop / take-profit geometry, in ONE unit: the quote currency (USDT).

    risk_amount  = equity × risk_pct                         (USDT)
    stop_distance = |entry − stop_price|                     (USDT per 1 unit of base asset)
    risk_qty     = risk_amount ÷ stop_distance               (base units)

The stop distance is a PRICE distance, never a fraction of price (FAILURES #15: an absolute
ATR used as a fraction put a short stop at $96M). Leverage never enters the risk quantity
(FAILURES #16); it only limits size through the leverage bracket and the margin cap:

    qty ≤ max_position_fraction × equity ÷ entry
    qty ≤ max_notional_per_trade ÷ entry
    qty ≤ Instrument.max_notional_at(leverage) ÷ entry
    qty ≤ available_margin ÷ (1/leverage + 2 × taker_fee_rate) ÷ entry
          (initial margin plus entry and exit fees must fit in the available margin)

The result is rounded DOWN to the lot step; below minQty or min notional it is rejected,
never silently upsized.

Default sizing is coherent with the default risk limits (``decide.risk_guard.RiskConfig``
and the apply layer's ``GateLimits``; ``tests/unit/decide/test_default_limits.py`` checks
every line):

    book    max_open_positions 10 × max_position_fraction 0.25 = 2.5 × equity gross
            ≤ gross cap 3 × equity × release_ratio 0.9 = 2.7 × equity
            (a full book never trips, or holds, ``max_gross_exposure``: 8 % headroom
            for marks moving before the cap trips, 20 % before it trips at 3×)
    margin  2.5 × equity ÷ leverage 5 = 0.5 of the margin balance
            ≤ max_margin_utilisation 0.8 × release_ratio 0.9 = 0.72
    risk    10 positions × risk_pct 0.5 % = 5 % = daily_loss_limit_pct
            (every stop hit at once costs one day's loss budget, no more)
    binding the risk cap sets the size when the stop is at least
            risk_pct ÷ max_position_fraction = 2 % of price; tighter stops (2 × ATR on
            1m bars is ~0.2–0.5 %) are bound by the 25 % notional cap and risk less.

``max_notional_per_trade`` (10 000 USDT) stays as an absolute backstop for large accounts.

Rounding of prices (the conservative choice):
  * stop price is rounded to tick AWAY from entry (long: down, short: up), so the stop is
    never tighter than the strategy's invalidation level, and the quantity is then sized
    on the rounded (wider) distance, so the loss at the stop never exceeds risk_amount;
  * take-profit prices are rounded TOWARD entry (long: down, short: up), so a target is
    never further than the strategy asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.config_checks import require_fraction, require_positive
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO, round_down, round_up

MAX_LEVERAGE = 125  # Binance USDⓈ-M's highest leverage tier


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """Per-trade risk and caps. ``risk_pct`` and stop bounds are fractions (0.01 = 1%).

    ``max_position_fraction`` caps one entry's notional as a multiple of equity (0.25 =
    a quarter of equity; values above 1 are allowed for a deliberately leveraged book).
    """

    risk_pct: Decimal = Decimal("0.005")
    max_position_fraction: Decimal = Decimal("0.25")
    max_notional_per_trade: Decimal = Decimal("10000")
    leverage: int = 5
    taker_fee_rate: Decimal = Decimal("0.0005")
    min_stop_fraction: Decimal = Decimal("0.001")
    max_stop_fraction: Decimal = Decimal("0.20")
    market_order: bool = True  # entries are MARKET orders: use the MARKET_LOT_SIZE filter

    def __post_init__(self) -> None:
        require_fraction("risk_pct", self.risk_pct)
        require_positive("max_position_fraction", self.max_position_fraction)
        require_positive("max_notional_per_trade", self.max_notional_per_trade)
        if not 1 <= self.leverage <= MAX_LEVERAGE:
            raise ValueError(f"leverage must be 1..{MAX_LEVERAGE}, got {self.leverage}")
        require_fraction("taker_fee_rate", self.taker_fee_rate, allow_zero=True)
        require_fraction("min_stop_fraction", self.min_stop_fraction)
        require_fraction("max_stop_fraction", self.max_stop_fraction)
        if self.min_stop_fraction >= self.max_stop_fraction:
            raise ValueError("min_stop_fraction must be < max_stop_fraction")


@dataclass(frozen=True, slots=True)
class SizingRequest:
    """The trade geometry from an admitted intent. Distances are price units per base unit."""

    side: PositionSide
    entry_price: Decimal
    stop_distance: Decimal
    take_profit_distances: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountCapacity:
    """What the account can carry right now (USDT)."""

    equity: Decimal
    available_margin: Decimal


@dataclass(frozen=True, slots=True)
class SizedEntry:
    """A sized, exchange-valid entry. ``binding_cap`` names the limit that set the qty."""

    side: PositionSide
    qty: Decimal
    notional: Decimal
    entry_price: Decimal
    stop_price: Decimal
    take_profit_prices: tuple[Decimal, ...]
    leverage: int
    risk_amount: Decimal  # budget: equity × risk_pct
    risk_at_stop: Decimal  # actual: qty × |entry − stop_price| ≤ risk_amount
    # "risk" | "position_fraction" | "max_notional" | "bracket" | "margin" | "max_qty"
    binding_cap: str


def size_entry(
    request: SizingRequest,
    account: AccountCapacity,
    instrument: Instrument,
    config: SizingConfig,
) -> SizedEntry | Rejection:
    """Size one entry, or say why it cannot be taken."""
    entry = request.entry_price
    if not entry > ZERO:
        return Rejection(reasons.INVALID_ENTRY_PRICE, f"entry price {entry} <= 0")
    if not account.equity > ZERO:
        return Rejection(reasons.NO_EQUITY, f"equity {account.equity} <= 0")
    stop = stop_price_for(request.side, entry, request.stop_distance, instrument, config)
    if isinstance(stop, Rejection):
        return stop
    take_profits: list[Decimal] = []
    for distance in request.take_profit_distances:
        tp = take_profit_price_for(request.side, entry, distance, instrument)
        if isinstance(tp, Rejection):
            return tp
        take_profits.append(tp)

    leverage = min(config.leverage, instrument.max_leverage)
    risk_amount = account.equity * config.risk_pct
    caps = {
        "risk": risk_amount / abs(entry - stop),
        "position_fraction": account.equity * config.max_position_fraction / entry,
        "max_notional": config.max_notional_per_trade / entry,
        "bracket": instrument.max_notional_at(leverage) / entry,
        "margin": _margin_cap_notional(account.available_margin, leverage, config) / entry,
        "max_qty": instrument.market_max_qty if config.market_order else instrument.max_qty,
    }
    # Ties go to the first name in insertion order, so "risk" wins when nothing caps it.
    binding_cap = min(caps, key=lambda name: caps[name])
    step = instrument.market_step_size if config.market_order else instrument.step_size
    min_qty = instrument.market_min_qty if config.market_order else instrument.min_qty
    qty = round_down(max(caps[binding_cap], ZERO), step)
    if qty <= ZERO or qty < min_qty:
        return Rejection(
            reasons.BELOW_MIN_QTY, f"qty {qty} < min {min_qty} (bound by {binding_cap})"
        )
    notional = qty * entry
    if notional < instrument.min_notional:
        return Rejection(
            reasons.BELOW_MIN_NOTIONAL,
            f"notional {notional} < min {instrument.min_notional} (bound by {binding_cap})",
        )
    return SizedEntry(
        side=request.side,
        qty=qty,
        notional=notional,
        entry_price=entry,
        stop_price=stop,
        take_profit_prices=tuple(take_profits),
        leverage=leverage,
        risk_amount=risk_amount,
        risk_at_stop=qty * abs(entry - stop),
        binding_cap=binding_cap,
    )


def _margin_cap_notional(available: Decimal, leverage: int, config: SizingConfig) -> Decimal:
    """Largest notional whose initial margin plus round-trip taker fees fits ``available``."""
    if available <= ZERO:
        return ZERO
    return available / (Decimal(1) / Decimal(leverage) + 2 * config.taker_fee_rate)


def stop_price_for(
    side: PositionSide,
    entry: Decimal,
    stop_distance: Decimal,
    instrument: Instrument,
    config: SizingConfig,
) -> Decimal | Rejection:
    """Protective stop: long below entry, short above; rounded to tick away from entry."""
    if not stop_distance > ZERO:
        return Rejection(reasons.INVALID_STOP, f"stop distance {stop_distance} <= 0")
    fraction = stop_distance / entry
    if not config.min_stop_fraction <= fraction <= config.max_stop_fraction:
        return Rejection(
            reasons.INVALID_STOP,
            f"stop distance {stop_distance} is {fraction:.6f} of price, outside "
            f"[{config.min_stop_fraction}, {config.max_stop_fraction}]",
        )
    if side is PositionSide.LONG:
        stop = round_down(entry - stop_distance, instrument.tick_size)
        sane = ZERO < stop < entry
    else:
        stop = round_up(entry + stop_distance, instrument.tick_size)
        sane = entry < stop
    if not sane or not instrument.min_price <= stop <= instrument.max_price:
        return Rejection(reasons.INVALID_STOP, f"{side} stop {stop} invalid for entry {entry}")
    return stop


def take_profit_price_for(
    side: PositionSide,
    entry: Decimal,
    distance: Decimal,
    instrument: Instrument,
) -> Decimal | Rejection:
    """Take-profit: long above entry, short below (and positive); rounded toward entry."""
    if not distance > ZERO:
        return Rejection(reasons.INVALID_TAKE_PROFIT, f"take-profit distance {distance} <= 0")
    if side is PositionSide.LONG:
        tp = round_down(entry + distance, instrument.tick_size)
        sane = tp > entry
    else:
        tp = round_up(entry - distance, instrument.tick_size)
        sane = ZERO < tp < entry
    if not sane or not instrument.min_price <= tp <= instrument.max_price:
        return Rejection(
            reasons.INVALID_TAKE_PROFIT, f"{side} take-profit {tp} invalid for entry {entry}"
        )
    return tp
