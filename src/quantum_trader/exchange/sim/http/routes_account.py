"""Account settings and history: margin type, position mode, fees, income, liquidations.

Margin type and position mode are account settings the venue keeps and reports
(symbolConfig, positionRisk, accountConfig) and changes under Binance's rules: no change
while the symbol (for the margin type) or the account (for the position mode) has a
position or open orders. The matching core margins every position cross and nets it
one-way; an ISOLATED or hedge-mode account is what an operator may have set, which the
trading system's start-up check refuses. No position is ever isolated, so isolated
margin cannot be added (-4054) or taken (-4051), and its history is empty.
"""

from __future__ import annotations

from typing import Any

import quantum_trader.exchange.sim.http.binance_json as bj
import quantum_trader.exchange.sim.http.market_json as mj
from quantum_trader.domain.money import fmt
from quantum_trader.exchange.sim.http.routes_info import int_param
from quantum_trader.exchange.sim.http.routes_trade import Params, Route, need
from quantum_trader.exchange.sim.http.security import bad_request
from quantum_trader.exchange.sim.http.venue import Venue

SUCCESS = {"code": 200, "msg": "success"}
WEEK_MS = 7 * 86_400_000
LIQUIDATION_PREFIX = "autoclose-"


async def margin_type(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    wanted = need(params, "marginType").upper()
    srv.core.instrument(symbol)
    if wanted not in ("ISOLATED", "CROSSED"):
        raise bad_request(-1100, "Illegal characters found in parameter 'marginType'.")
    isolated = symbol in srv.modes.isolated
    if (wanted == "ISOLATED") == isolated:
        raise bad_request(-4046, "No need to change margin type.")
    if srv.core.position_qty(symbol):
        raise bad_request(-4048, "Margin type cannot be changed if there exists position.")
    if srv.core.open_orders(symbol):
        raise bad_request(-4047, "Margin type cannot be changed if there exists open orders.")
    if wanted == "ISOLATED":
        srv.modes.isolated.add(symbol)
    else:
        srv.modes.isolated.discard(symbol)
    return SUCCESS


async def set_position_mode(srv: Venue, params: Params) -> Any:
    raw = need(params, "dualSidePosition").lower()
    if raw not in ("true", "false"):
        raise bad_request(-1100, "Illegal characters found in parameter 'dualSidePosition'.")
    dual = raw == "true"
    if dual == srv.modes.dual_side:
        raise bad_request(-4059, "No need to change position side.")
    if srv.core.positions():
        raise bad_request(-4068, "Position side cannot be changed if there exists position.")
    if srv.core.open_orders():
        raise bad_request(-4067, "Position side cannot be changed if there exists open orders.")
    srv.modes.dual_side = dual
    return SUCCESS


async def multi_assets_margin(srv: Venue, params: Params) -> Any:
    return {"multiAssetsMargin": srv.modes.multi_assets}


async def account_config(srv: Venue, params: Params) -> Any:
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": srv.modes.dual_side,
        "updateTime": 0,
        "multiAssetsMargin": srv.modes.multi_assets,
        "tradeGroupId": -1,
    }


async def commission_rate(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    config = srv.core.config
    return {
        "symbol": symbol,
        "makerCommissionRate": fmt(config.maker_fee),
        "takerCommissionRate": fmt(config.taker_fee),
    }


async def income(srv: Venue, params: Params) -> Any:
    """GET /fapi/v1/income: the last 7 days unless a time range is sent; ``limit``
    (default 100, at most 1000) rows from the start of the range, ``page`` by page."""
    symbol = params.get("symbol") or None
    if symbol:
        srv.core.instrument(symbol)
    kind = params.get("incomeType") or None
    limit = max(1, min(int_param(params, "limit", 100) or 100, 1000))
    page = max(1, int_param(params, "page", 1) or 1)
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    if start is None and end is None:
        start = srv.core.now_ms - WEEK_MS
    rows = [
        r
        for r in mj.income_rows(srv.core.fills_from(0), srv.core.funding_payments())
        if (symbol is None or r["symbol"] == symbol)
        and (kind is None or r["incomeType"] == kind)
        and (start is None or r["time"] >= start)
        and (end is None or r["time"] <= end)
    ]
    if start is None:
        return rows[-limit:]
    return rows[(page - 1) * limit : page * limit]


async def position_margin(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    need(params, "amount")
    kind = need(params, "type")
    srv.core.instrument(symbol)
    if kind == "1":
        raise bad_request(-4054, "Cannot add position margin: position is 0.")
    if kind == "2":
        raise bad_request(-4051, "Isolated balance insufficient.")
    raise bad_request(-1100, "Illegal characters found in parameter 'type'.")


async def position_margin_history(srv: Venue, params: Params) -> Any:
    srv.core.instrument(need(params, "symbol"))
    return []


async def force_orders(srv: Venue, params: Params) -> Any:
    """The account's liquidation orders (the venue never auto-deleverages: ADL is empty)."""
    symbol = params.get("symbol") or None
    if symbol:
        srv.core.instrument(symbol)
    if params.get("autoCloseType", "LIQUIDATION") == "ADL":
        return []
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    limit = max(1, min(int_param(params, "limit", 50) or 50, 100))
    rows = [
        o
        for o in srv.core.all_orders()
        if o.client_order_id.startswith(LIQUIDATION_PREFIX)
        and (symbol is None or o.symbol == symbol)
        and (start is None or o.created_at >= start)
        and (end is None or o.created_at <= end)
    ]
    return [bj.order_json(o) for o in rows[-limit:]]


async def adl_quantile(srv: Venue, params: Params) -> Any:
    """Every open position at the bottom of the queue: nothing is ever deleveraged here."""
    symbol = params.get("symbol") or None
    return [
        {"symbol": p.symbol, "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 0}}
        for p in srv.core.positions()
        if symbol is None or p.symbol == symbol
    ]


ACCOUNT_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/fapi/v1/marginType"): Route(margin_type, "signed"),
    ("POST", "/fapi/v1/positionSide/dual"): Route(set_position_mode, "signed"),
    ("GET", "/fapi/v1/multiAssetsMargin"): Route(multi_assets_margin, "signed"),
    ("GET", "/fapi/v1/accountConfig"): Route(account_config, "signed"),
    ("GET", "/fapi/v1/commissionRate"): Route(commission_rate, "signed"),
    ("GET", "/fapi/v1/income"): Route(income, "signed"),
    ("POST", "/fapi/v1/positionMargin"): Route(position_margin, "signed"),
    ("GET", "/fapi/v1/positionMargin/history"): Route(position_margin_history, "signed"),
    ("GET", "/fapi/v1/forceOrders"): Route(force_orders, "signed"),
    ("GET", "/fapi/v1/adlQuantile"): Route(adl_quantile, "signed"),
}
