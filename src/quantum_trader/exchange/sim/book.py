"""Per-symbol market state and the orders resting on it (limits and untriggered stops).

Every resting order has a *level* and a *direction*: it acts when the price rises to the
level (sell limit, buy stop, sell take-profit) or falls to it (buy limit, sell stop, buy
take-profit). The book keeps the nearest level on each side so that a bar whose range
touches neither costs two comparisons — the hot path of a backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import Order

INF = Decimal("Infinity")
NEG_INF = Decimal("-Infinity")
# Membership tests, cheaper than the enums' properties on the hot path.
CONDITIONAL = frozenset(t for t in OrderType if t.is_conditional)
FINAL = frozenset(s for s in OrderStatus if s.is_final)


class BarModel(StrEnum):
    """How a bar acts on resting orders.

    * ``PATH`` (Binance-like, the default): the price walks open → nearer extreme →
      farther extreme → close; a jump (the open, or a price set between bars) fills a
      triggered stop at the price after the jump.
    * ``LEVELS`` (the reference strategy's idealised bar): resting orders act on the
      bar's low and high only — the extreme on the open position's losing side first, so
      a stop comes before a target in one bar — and fill exactly at their own level even
      when the market opened beyond it. A price set between bars (a bar's open) is a
      quote that market orders fill at; it triggers nothing.
    """

    PATH = "path"
    LEVELS = "levels"


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """Run-level settings of one core.

    ``continuous``: quantities and prices are real numbers — no LOT_SIZE /
    MARKET_LOT_SIZE step, precision or bounds, no MIN_NOTIONAL, trigger prices need not
    sit on the tick, and market fills are not rounded to it (the reference strategy's
    "quantity is continuous, no minimum notional / lot size"). Leverage brackets and
    margin are still enforced.
    """

    continuous: bool = False
    bar_model: BarModel = BarModel.PATH


BINANCE_RULES = MatchingRules()


@dataclass(slots=True, eq=False)
class WorkingOrder:
    """The exchange's mutable record of one order; ``snapshot()`` gives the frozen view.

    Compared by identity: one record per order, however equal two orders' fields are.
    Its level and direction never change, so they are worked out once (the hot path of
    a sweep reads them for every resting order)."""

    symbol: str
    side: Side
    type: OrderType
    client_order_id: str
    exchange_order_id: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType
    time_in_force: TimeInForce
    created_at: int
    status: OrderStatus = OrderStatus.NEW
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    updated_at: int = 0
    seq: int = 0  # arrival order: ties at one level fill first-come first-served
    # True when the order acts on a rise of its price source to its level.
    rises: bool = field(init=False, default=False)
    on_mark: bool = field(init=False, default=False)  # triggered by the mark price
    _level: Decimal | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        kind = self.type
        if kind is OrderType.STOP_MARKET:
            self.rises = self.side is Side.BUY
        else:  # LIMIT and TAKE_PROFIT_MARKET sell on a rise
            self.rises = self.side is Side.SELL
        conditional = kind in CONDITIONAL
        self.on_mark = conditional and self.working_type is WorkingType.MARK_PRICE
        self._level = self.stop_price if conditional else self.price

    @property
    def level(self) -> Decimal:
        level = self._level
        assert level is not None
        return level

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL

    def snapshot(self) -> Order:
        avg = self.cum_quote / self.executed_qty if self.executed_qty else ZERO
        return Order(
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            status=self.status,
            client_order_id=self.client_order_id,
            exchange_order_id=self.exchange_order_id,
            quantity=self.quantity,
            executed_qty=self.executed_qty,
            avg_price=avg,
            price=self.price,
            stop_price=self.stop_price,
            reduce_only=self.reduce_only,
            close_position=self.close_position,
            working_type=self.working_type,
            time_in_force=self.time_in_force,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
        )


def crossed(order: WorkingOrder, price: Decimal) -> bool:
    """True when ``price`` is at or beyond the order's level in its direction."""
    return price >= order.level if order.rises else price <= order.level


@dataclass(slots=True)
class SymbolBook:
    """Prices of one symbol and its resting orders, with the nearest level on each side."""

    instrument: Instrument
    last: Decimal = ZERO
    mark: Decimal = ZERO
    resting: list[WorkingOrder] = field(default_factory=list)
    up_min: Decimal = INF  # lowest level of orders acting on a rise
    down_max: Decimal = NEG_INF  # highest level of orders acting on a fall
    mark_f: float = 0.0
    rules: MatchingRules = BINANCE_RULES
    # Leverage-bracket table as floats for the liquidation pre-check.
    tiers_f: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        self.tiers_f = tuple(
            (float(t.notional_cap), float(t.maint_margin_ratio), float(t.cum))
            for t in self.instrument.brackets
        )

    @property
    def has_price(self) -> bool:
        return self.last > 0

    def add(self, order: WorkingOrder) -> None:
        self.resting.append(order)
        if order.rises:
            self.up_min = min(self.up_min, order.level)
        else:
            self.down_max = max(self.down_max, order.level)

    def remove(self, order: WorkingOrder) -> None:
        self.resting.remove(order)
        self.reindex()

    def reindex(self) -> None:
        self.up_min = min((o.level for o in self.resting if o.rises), default=INF)
        self.down_max = max((o.level for o in self.resting if not o.rises), default=NEG_INF)

    def source_price(self, order: WorkingOrder) -> Decimal:
        return self.mark if order.on_mark else self.last

    def maint_f(self, notional: float) -> float:
        """Maintenance margin of a (positive) notional, in floats."""
        for cap, ratio, cum in self.tiers_f:
            if notional <= cap:
                return notional * ratio - cum
        cap, ratio, cum = self.tiers_f[-1]
        return notional * ratio - cum
