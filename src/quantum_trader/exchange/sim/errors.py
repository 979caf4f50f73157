"""Binance USDⓈ-M error codes and message texts the simulated exchange rejects with.

The texts are Binance's own (from its futures error-code list) so that a client which
matches on message text behaves the same against the simulator and the real venue.
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.money import fmt
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected

INVALID_SYMBOL = -1121
MANDATORY_PARAM = -1102
PARAM_NOT_REQUIRED = -1106
FILTER_FAILURE = -1013
PRECISION = -1111
UNKNOWN_ORDER_SENT = -2011
NO_SUCH_ORDER = -2013
MARGIN_INSUFFICIENT = -2019
WOULD_IMMEDIATELY_TRIGGER = -2021
REDUCE_ONLY_REJECTED = -2022
MAX_POSITION_AT_LEVERAGE = -2027
LEVERAGE_INSUFFICIENT_MARGIN = -2028
QTY_NOT_POSITIVE = -4003
QTY_BELOW_MIN = -4004
QTY_ABOVE_MAX = -4005
PRICE_BELOW_MIN = -4013
PRICE_NOT_ON_TICK = -4014
INVALID_LEVERAGE = -4028
DUPLICATE_CLIENT_ID = -4116
MIN_NOTIONAL = -4164
POST_ONLY_REJECTED = -5022
ONLY_LIMIT_MODIFIABLE = -5025
NO_NEED_TO_MODIFY = -5027
NO_LIQUIDITY = -4131  # a market order finds no price to execute at

MESSAGES: dict[int, str] = {
    INVALID_SYMBOL: "Invalid symbol.",
    MANDATORY_PARAM: "Mandatory parameter '{param}' was not sent, was empty/null, or malformed.",
    PARAM_NOT_REQUIRED: "Parameter '{param}' sent when not required.",
    FILTER_FAILURE: "Filter failure: {filter}",
    PRECISION: "Precision is over the maximum defined for this asset.",
    UNKNOWN_ORDER_SENT: "Unknown order sent.",
    NO_SUCH_ORDER: "Order does not exist.",
    MARGIN_INSUFFICIENT: "Margin is insufficient.",
    WOULD_IMMEDIATELY_TRIGGER: "Order would immediately trigger.",
    REDUCE_ONLY_REJECTED: "ReduceOnly Order is rejected.",
    MAX_POSITION_AT_LEVERAGE: "Exceeded the maximum allowable position at current leverage.",
    LEVERAGE_INSUFFICIENT_MARGIN: (
        "Leverage is smaller than permitted: insufficient margin balance"
    ),
    QTY_NOT_POSITIVE: "Quantity less than or equal to zero.",
    QTY_BELOW_MIN: "Quantity less than min quantity.",
    QTY_ABOVE_MAX: "Quantity greater than max quantity.",
    PRICE_BELOW_MIN: "Price less than min price.",
    PRICE_NOT_ON_TICK: "Price not increased by tick size.",
    INVALID_LEVERAGE: "Leverage {leverage} is not valid",
    DUPLICATE_CLIENT_ID: "ClientOrderId is duplicated.",
    MIN_NOTIONAL: (
        "Order's notional must be no smaller than {notional} (unless you choose reduce only)."
    ),
    NO_LIQUIDITY: "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
    POST_ONLY_REJECTED: (
        "Due to the order could not be executed as maker, the Post Only order will be rejected."
    ),
    ONLY_LIMIT_MODIFIABLE: "Only limit order is supported.",
    NO_NEED_TO_MODIFY: "No need to modify the order.",
}


def rejected(code: int, **details: object) -> OrderRejected:
    """An ``OrderRejected`` carrying Binance's code and its message text."""
    text = MESSAGES[code]
    if details:
        text = text.format(
            **{k: fmt(v) if isinstance(v, Decimal) else v for k, v in details.items()}
        )
    return OrderRejected(code, text)


def not_found(symbol: str, client_order_id: str) -> OrderNotFound:
    """Lookup of an order id the exchange never saw (-2013)."""
    return OrderNotFound(f"{NO_SUCH_ORDER}: {MESSAGES[NO_SUCH_ORDER]} ({symbol} {client_order_id})")
