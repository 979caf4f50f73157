"""Exchange info, mark price and funding, account, position, leverage, trade-history and
listen-key endpoints."""

from __future__ import annotations

from typing import Any

import quantum_trader.exchange.sim.http.binance_json as bj
from quantum_trader.exchange.sim.http.routes_trade import Params, Route, need
from quantum_trader.exchange.sim.http.security import BinanceError, bad_request
from quantum_trader.exchange.sim.http.venue import Venue


def int_param(params: Params, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(-1100, f"Illegal characters found in parameter '{name}'.") from None


def symbols_of(srv: Venue, params: Params) -> list[str]:
    symbol = params.get("symbol")
    if symbol:
        srv.core.instrument(symbol)
        return [symbol]
    return [i.symbol for i in srv.core.instruments()]


def no_price() -> BinanceError:
    return bad_request(-1121, "Invalid symbol.")


def priced(srv: Venue, params: Params) -> list[str]:
    """The symbols asked for that have a price (-1121 for a named one that has none)."""
    symbol = params.get("symbol")
    if symbol:
        srv.core.instrument(symbol)
        if srv.core.last_price(symbol) <= 0:
            raise no_price()
        return [symbol]
    return [i.symbol for i in srv.core.instruments() if srv.core.last_price(i.symbol) > 0]


async def ping(srv: Venue, params: Params) -> Any:
    return {}


async def server_time(srv: Venue, params: Params) -> Any:
    # The venue's own time is its market's: a replay of 2024 bars is at 2024, so a client
    # that follows serverTime trades on the market's clock (security checks stay on the
    # wall clock, as Binance's do).
    return {"serverTime": srv.core.now_ms}


async def exchange_info(srv: Venue, params: Params) -> Any:
    return bj.exchange_info_json(srv.core.instruments(), srv.clock.now_ms(), srv.weights.limit)


async def premium_index(srv: Venue, params: Params) -> Any:
    """Mark and index per symbol; a named symbol with no price yet is -1121, not 0."""
    rows = [bj.premium_index_json(srv.core.mark_price(s)) for s in priced(srv, params)]
    return rows[0] if params.get("symbol") else rows


async def funding_rate(srv: Venue, params: Params) -> Any:
    """GET /fapi/v1/fundingRate: settled rates, oldest first; ``limit`` (default 100, at
    most 1000) from ``startTime`` when it is sent, else the most recent ones."""
    symbol = params.get("symbol") or None
    limit = max(1, min(int_param(params, "limit", 100) or 100, 1000))
    start = int_param(params, "startTime")
    rows = srv.core.funding_rates(start or 0, int_param(params, "endTime"), symbol)
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [bj.funding_rate_json(r, srv.core.mark_at(r.symbol, r.funding_time)) for r in rows]


async def leverage_bracket(srv: Venue, params: Params) -> Any:
    rows = [bj.brackets_json(srv.core.instrument(s)) for s in symbols_of(srv, params)]
    return rows[0] if params.get("symbol") else rows


def position_rows(srv: Venue, params: Params) -> list[dict[str, Any]]:
    symbol = params.get("symbol")
    return [
        bj.position_json(
            p,
            srv.core.instrument(p.symbol),
            "isolated" if p.symbol in srv.modes.isolated else "cross",
        )
        for p in srv.core.positions()
        if not symbol or p.symbol == symbol
    ]


async def account(srv: Venue, params: Params) -> Any:
    positions = [bj.account_position_json(row) for row in position_rows(srv, params)]
    body = bj.account_json(srv.core.account(), positions)
    return {**body, "multiAssetsMargin": srv.modes.multi_assets}


async def position_risk(srv: Venue, params: Params) -> Any:
    return position_rows(srv, params)


async def balance(srv: Venue, params: Params) -> Any:
    return bj.balance_json(srv.core.account())


async def position_mode(srv: Venue, params: Params) -> Any:
    return {"dualSidePosition": srv.modes.dual_side}


async def symbol_config(srv: Venue, params: Params) -> Any:
    default = srv.core.config.default_leverage
    return [
        {
            "symbol": s,
            "marginType": "ISOLATED" if s in srv.modes.isolated else "CROSSED",
            "isAutoAddMargin": False,
            "leverage": srv.leverage.get(s, default),
            "maxNotionalValue": "1000000",
        }
        for s in symbols_of(srv, params)
    ]


async def set_leverage(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    leverage = int_param(params, "leverage")
    if leverage is None:
        raise bad_request(-1102, "Mandatory parameter 'leverage' was not sent, was empty/null.")
    done = srv.lookup(lambda: srv.core.set_leverage(symbol, leverage))
    srv.leverage[symbol] = done
    cap = srv.core.instrument(symbol).max_notional_at(done)
    return {"leverage": done, "maxNotionalValue": bj.s(cap), "symbol": symbol}


async def user_trades(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    start = int_param(params, "startTime")
    end = int_param(params, "endTime")
    from_id = int_param(params, "fromId")
    limit = min(int_param(params, "limit", 500) or 500, 1000)
    fills = [
        f
        for f in srv.core.trades(symbol, start)
        if (end is None or f.ts <= end) and (from_id is None or int(f.trade_id) >= from_id)
    ]
    fills = fills[:limit] if start is not None or from_id is not None else fills[-limit:]
    return [bj.trade_json(f) for f in fills]


async def new_listen_key(srv: Venue, params: Params) -> Any:
    return {"listenKey": srv.users.create(srv.clock.now_ms())}


async def keepalive_listen_key(srv: Venue, params: Params) -> Any:
    now = srv.clock.now_ms()
    key = params.get("listenKey") or next(
        (k for k in srv.users.expiry if srv.users.valid(k, now)), ""
    )
    if not srv.users.keepalive(key, now):
        raise bad_request(-1125, "This listenKey does not exist.")
    return {"listenKey": key}


async def delete_listen_key(srv: Venue, params: Params) -> Any:
    for key in [params["listenKey"]] if params.get("listenKey") else list(srv.users.expiry):
        await srv.users.delete(key)
    return {}


INFO_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/fapi/v1/ping"): Route(ping, "public"),
    ("GET", "/fapi/v1/time"): Route(server_time, "public"),
    ("GET", "/fapi/v1/exchangeInfo"): Route(exchange_info, "public"),
    ("GET", "/fapi/v1/premiumIndex"): Route(premium_index, "public"),
    ("GET", "/fapi/v1/fundingRate"): Route(funding_rate, "public"),
    ("GET", "/fapi/v1/leverageBracket"): Route(leverage_bracket, "signed"),
    ("GET", "/fapi/v2/account"): Route(account, "signed"),
    ("GET", "/fapi/v3/account"): Route(account, "signed"),
    ("GET", "/fapi/v2/positionRisk"): Route(position_risk, "signed"),
    ("GET", "/fapi/v3/positionRisk"): Route(position_risk, "signed"),
    ("GET", "/fapi/v2/balance"): Route(balance, "signed"),
    ("GET", "/fapi/v3/balance"): Route(balance, "signed"),
    ("GET", "/fapi/v1/positionSide/dual"): Route(position_mode, "signed"),
    ("GET", "/fapi/v1/symbolConfig"): Route(symbol_config, "signed"),
    ("POST", "/fapi/v1/leverage"): Route(set_leverage, "signed"),
    ("GET", "/fapi/v1/userTrades"): Route(user_trades, "signed"),
    ("POST", "/fapi/v1/listenKey"): Route(new_listen_key, "apikey"),
    ("PUT", "/fapi/v1/listenKey"): Route(keepalive_listen_key, "apikey"),
    ("DELETE", "/fapi/v1/listenKey"): Route(delete_listen_key, "apikey"),
}
