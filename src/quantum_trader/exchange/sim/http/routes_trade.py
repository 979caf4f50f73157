"""Order endpoints: /fapi/v1/order (create, amend, query, cancel), openOrders,
allOrders, allOpenOrders and the algo-order API.

Regular orders (MARKET, LIMIT) live on /fapi/v1/order; conditional ones (STOP_MARKET,
TAKE_PROFIT_MARKET) only on /fapi/v1/algoOrder since Binance's December 2025 change
(-4120 on the old endpoint). A conditional order shows on the regular endpoints once it
has triggered and executed, as the order it became.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import quantum_trader.exchange.sim.http.binance_json as bj
from quantum_trader.domain.enums import OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.orders import Order, OrderRequest
from quantum_trader.exchange.sim.http.security import bad_request
from quantum_trader.exchange.sim.http.venue import Venue

Params = Mapping[str, str]
Handler = Callable[[Venue, Params], Awaitable[Any]]
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CONDITIONAL = {"STOP_MARKET", "TAKE_PROFIT_MARKET"}
UNSUPPORTED = {"STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET"}
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    security: str  # "public", "signed" or "apikey"
    order_write: bool = False  # placement / cancel: subject to "execution status unknown"


def need(params: Params, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null.")
    return value


def decimal_param(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise bad_request(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise bad_request(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def flag(params: Params, name: str) -> bool:
    return params.get(name, "false").lower() == "true"


def order_request(srv: Venue, params: Params, *, algo: bool) -> OrderRequest:
    """Parse a create request the way Binance validates it (before the matching rules)."""
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)  # -1121 for an unknown symbol
    side_raw = need(params, "side")
    if side_raw not in ("BUY", "SELL"):
        raise bad_request(-1117, "Invalid side.")
    kind = need(params, "type")
    if kind in UNSUPPORTED:
        raise bad_request(-1116, "Invalid orderType.")
    if kind not in {"MARKET", "LIMIT", *CONDITIONAL}:
        raise bad_request(-1116, "Invalid orderType.")
    if algo and (kind not in CONDITIONAL or params.get("algoType") != "CONDITIONAL"):
        raise bad_request(-1116, "Invalid orderType.")
    if not algo and kind in CONDITIONAL:
        raise bad_request(
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API "
            "endpoints instead.",
        )
    client_id = params.get("clientAlgoId" if algo else "newClientOrderId") or srv.new_client_id()
    if not CLIENT_ID.match(client_id):
        raise bad_request(-4015, "Client order id is not valid.")
    # One-way accounts take BOTH (or nothing); a hedge-mode account needs LONG or SHORT.
    wanted = ("LONG", "SHORT") if srv.modes.dual_side else ("BOTH",)
    if params.get("positionSide", "BOTH") not in wanted:
        raise bad_request(-4061, "Order's position side does not match user's setting.")
    check_price_match(params)
    working = params.get("workingType", "CONTRACT_PRICE")
    tif = params.get("timeInForce", "GTC")
    if working not in WorkingType.__members__ or tif not in TimeInForce.__members__:
        raise bad_request(-1100, "Illegal characters found in a parameter.")
    return OrderRequest(
        symbol=symbol,
        side=Side(side_raw),
        type=OrderType(kind),
        client_order_id=client_id,
        quantity=decimal_param(params, "quantity"),
        price=decimal_param(params, "price"),
        stop_price=decimal_param(params, "triggerPrice" if algo else "stopPrice"),
        reduce_only=flag(params, "reduceOnly"),
        close_position=flag(params, "closePosition"),
        working_type=WorkingType(working),
        time_in_force=TimeInForce(tif),
    )


def check_price_match(params: Params) -> None:
    """The matching core takes explicit prices only: no BBO price matching."""
    if params.get("priceMatch", "NONE") not in ("", "NONE"):
        raise bad_request(-5037, "Invalid price match.")


def find_order(srv: Venue, params: Params, id_key: str, client_key: str) -> Order:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)  # -1121 for an unknown symbol, before any order lookup
    if params.get(id_key):
        order = srv.core.order_by_exchange_id(params[id_key])
        if order.symbol != symbol:
            raise srv.not_found()
        return order
    if params.get(client_key):
        return srv.core.order(symbol, params[client_key])
    raise bad_request(-1102, f"Either '{id_key}' or '{client_key}' must be sent.")


def regular(srv: Venue, params: Params) -> Order:
    """A regular order (or a conditional one that has executed); -2013 otherwise."""
    order = srv.lookup(lambda: find_order(srv, params, "orderId", "origClientOrderId"))
    if order.type.is_conditional and not bj.triggered(order):
        raise srv.not_found()
    return order


def conditional(srv: Venue, params: Params) -> Order:
    order = srv.lookup(lambda: find_order(srv, params, "algoId", "clientAlgoId"))
    if not order.type.is_conditional:
        raise srv.not_found()
    return order


async def post_order(srv: Venue, params: Params) -> Any:
    request = order_request(srv, params, algo=False)
    return bj.order_json(await srv.submit(request))


async def put_order(srv: Venue, params: Params) -> Any:
    """PUT /fapi/v1/order: amend a resting LIMIT order's price and quantity (both sent)."""
    order = regular(srv, params)
    side = need(params, "side")
    quantity = decimal_param(params, "quantity")
    price = decimal_param(params, "price")
    check_price_match(params)
    if quantity is None:
        raise bad_request(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null.")
    if price is None:
        raise bad_request(-1102, "Mandatory parameter 'price' was not sent, was empty/null.")
    if side != order.side.value:
        raise bad_request(-1117, "Invalid side.")
    return bj.order_json(await srv.modify(order.symbol, order.client_order_id, quantity, price))


async def get_order(srv: Venue, params: Params) -> Any:
    return bj.order_json(regular(srv, params))


async def delete_order(srv: Venue, params: Params) -> Any:
    srv.lookup(lambda: srv.core.instrument(need(params, "symbol")))
    try:
        order = regular(srv, params)
    except Exception as exc:
        raise bad_request(-2011, "Unknown order sent.") from exc
    return bj.order_json(await srv.cancel(order.symbol, order.client_order_id))


async def get_open_order(srv: Venue, params: Params) -> Any:
    order = regular(srv, params)
    if order.status.is_final:
        raise bad_request(-2013, "Order does not exist.")
    return bj.order_json(order)


async def get_open_orders(srv: Venue, params: Params) -> Any:
    symbol = params.get("symbol") or None
    orders = srv.core.open_orders(symbol)
    return [bj.order_json(o) for o in orders if not o.type.is_conditional]


async def delete_all_open(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    for order in srv.core.open_orders(symbol):
        if not order.type.is_conditional:
            await srv.cancel(symbol, order.client_order_id)
    return CANCEL_ALL_DONE


async def post_algo(srv: Venue, params: Params) -> Any:
    request = order_request(srv, params, algo=True)
    return bj.algo_json(await srv.submit(request))


async def get_algo(srv: Venue, params: Params) -> Any:
    return bj.algo_json(conditional(srv, params))


async def delete_algo(srv: Venue, params: Params) -> Any:
    srv.lookup(lambda: srv.core.instrument(need(params, "symbol")))
    try:
        order = conditional(srv, params)
    except Exception as exc:
        raise bad_request(-2011, "Unknown order sent.") from exc
    if order.status.is_final:
        raise bad_request(-2011, "Unknown order sent.")
    done = await srv.cancel(order.symbol, order.client_order_id)
    return {
        "algoId": int(done.exchange_order_id),
        "clientAlgoId": done.client_order_id,
        "code": "200",
        "msg": "success",
    }


async def get_open_algo(srv: Venue, params: Params) -> Any:
    symbol = params.get("symbol") or None
    return [bj.algo_json(o) for o in srv.core.open_orders(symbol) if o.type.is_conditional]


async def delete_all_algo(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    for order in srv.core.open_orders(symbol):
        if order.type.is_conditional:
            await srv.cancel(symbol, order.client_order_id)
    return CANCEL_ALL_DONE


async def get_all_algo(srv: Venue, params: Params) -> Any:
    """GET /fapi/v1/allAlgoOrders: the symbol's conditional orders, oldest first."""
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    return [
        bj.algo_json(o)
        for o in srv.core.all_orders()
        if o.symbol == symbol and o.type.is_conditional
    ]


async def get_all_orders(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    return [
        bj.order_json(o)
        for o in srv.core.all_orders()
        if o.symbol == symbol and (not o.type.is_conditional or bj.triggered(o))
    ]


TRADE_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/fapi/v1/order"): Route(post_order, "signed", order_write=True),
    ("GET", "/fapi/v1/order"): Route(get_order, "signed"),
    ("PUT", "/fapi/v1/order"): Route(put_order, "signed", order_write=True),
    ("DELETE", "/fapi/v1/order"): Route(delete_order, "signed", order_write=True),
    ("GET", "/fapi/v1/openOrder"): Route(get_open_order, "signed"),
    ("GET", "/fapi/v1/openOrders"): Route(get_open_orders, "signed"),
    ("GET", "/fapi/v1/allOrders"): Route(get_all_orders, "signed"),
    ("DELETE", "/fapi/v1/allOpenOrders"): Route(delete_all_open, "signed", order_write=True),
    ("POST", "/fapi/v1/algoOrder"): Route(post_algo, "signed", order_write=True),
    ("GET", "/fapi/v1/algoOrder"): Route(get_algo, "signed"),
    ("DELETE", "/fapi/v1/algoOrder"): Route(delete_algo, "signed", order_write=True),
    ("GET", "/fapi/v1/openAlgoOrders"): Route(get_open_algo, "signed"),
    ("GET", "/fapi/v1/allAlgoOrders"): Route(get_all_algo, "signed"),
    ("GET", "/fapi/v1/algoOpenOrders"): Route(get_open_algo, "signed"),
    ("DELETE", "/fapi/v1/algoOpenOrders"): Route(delete_all_algo, "signed", order_write=True),
}
