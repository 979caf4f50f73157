"""/fapi/v1/batchOrders: up to 5 orders placed or amended, up to 10 cancelled, per call.

Each entry is answered on its own, in order: the order as the single endpoint renders it,
or Binance's ``{"code", "msg"}`` for the entry that failed (the others still execute).
The cancel lists' parameter names are matched without regard to case, as Binance does
(ccxt sends ``orderidlist``).
"""

from __future__ import annotations

import json
from typing import Any

import quantum_trader.exchange.sim.http.binance_json as bj
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected
from quantum_trader.exchange.sim.http.routes_trade import (
    Params,
    Route,
    delete_order,
    need,
    order_request,
    put_order,
)
from quantum_trader.exchange.sim.http.security import BinanceError, bad_request
from quantum_trader.exchange.sim.http.venue import Venue

MAX_PLACE = 5
MAX_CANCEL = 10


def _invalid(name: str) -> BinanceError:
    return bad_request(-1130, f"Data sent for parameter '{name}' is not valid.")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _entries(params: Params, most: int) -> list[dict[str, str]]:
    try:
        raw = json.loads(need(params, "batchOrders"))
    except json.JSONDecodeError:
        raise _invalid("batchOrders") from None
    if not isinstance(raw, list) or not raw or len(raw) > most:
        raise _invalid("batchOrders")
    if not all(isinstance(e, dict) for e in raw):
        raise _invalid("batchOrders")
    return [{str(k): _text(v) for k, v in e.items()} for e in raw]


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, BinanceError):
        return {"code": exc.code, "msg": exc.msg}
    if isinstance(exc, OrderRejected):
        return {"code": exc.code, "msg": exc.message}
    return {"code": -2013, "msg": "Order does not exist."}


async def place_batch(srv: Venue, params: Params) -> Any:
    out: list[Any] = []
    for entry in _entries(params, MAX_PLACE):
        try:
            request = order_request(srv, entry, algo=False)
            out.append(bj.order_json(await srv.submit(request)))
        except (BinanceError, OrderRejected, OrderNotFound) as exc:
            out.append(_error(exc))
    return out


async def amend_batch(srv: Venue, params: Params) -> Any:
    out: list[Any] = []
    for entry in _entries(params, MAX_PLACE):
        try:
            out.append(await put_order(srv, entry))
        except (BinanceError, OrderRejected, OrderNotFound) as exc:
            out.append(_error(exc))
    return out


def _id_list(params: Params, name: str) -> list[str] | None:
    raw = next((v for k, v in params.items() if k.lower() == name.lower()), None)
    if raw is None or raw == "":
        return None
    try:
        ids = json.loads(raw)
    except json.JSONDecodeError:
        raise _invalid(name) from None
    if not isinstance(ids, list) or not ids or len(ids) > MAX_CANCEL:
        raise _invalid(name)
    return [_text(i) for i in ids]


async def cancel_batch(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    by_id = _id_list(params, "orderIdList")
    by_client = _id_list(params, "origClientOrderIdList")
    if by_id is None and by_client is None:
        raise bad_request(
            -1102, "Mandatory parameter 'orderIdList' or 'origClientOrderIdList' was not sent."
        )
    key, ids = ("orderId", by_id) if by_id is not None else ("origClientOrderId", by_client)
    out: list[Any] = []
    for value in ids or []:
        try:
            out.append(await delete_order(srv, {"symbol": symbol, key: value}))
        except (BinanceError, OrderRejected, OrderNotFound) as exc:
            out.append(_error(exc))
    return out


BATCH_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/fapi/v1/batchOrders"): Route(place_batch, "signed", order_write=True),
    ("PUT", "/fapi/v1/batchOrders"): Route(amend_batch, "signed", order_write=True),
    ("DELETE", "/fapi/v1/batchOrders"): Route(cancel_batch, "signed", order_write=True),
}
