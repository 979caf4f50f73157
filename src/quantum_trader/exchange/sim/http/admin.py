"""Loopback-only admin endpoints: drive the market, act as a person, switch faults.

No Binance signature: these are the simulator's own controls (what a test driver, the
paper-mode replay or an operator rehearsing an incident uses), refused with 403 unless
the caller is on 127.0.0.1 / ::1. Bodies are JSON; prices and quantities decimal strings.

    POST /admin/price      {"symbol", "price"}              last and mark jump
    POST /admin/mark       {"symbol", "mark"}               mark alone moves
    POST /admin/bar        {"symbol", "open_time", "open", "high", "low", "close",
                            "volume"?, "interval"?}
    POST /admin/time       {"now_ms"}                       exchange clock (funding)
    POST /admin/position/open   {"symbol", "side", "qty"}   market order "by hand"
    POST /admin/position/close  {"symbol"}
    POST /admin/order/cancel    {"symbol", "client_order_id"}
    GET|POST /admin/faults      {"profile", ...overrides}
    POST /admin/ws/drop, /admin/listenkey/expire, /admin/events/release
    GET  /admin/state, /admin/requests
    GET  /admin/history                                  every order and fill ever (audits)
    POST /admin/account    {"dual_side", "multi_assets", "isolated": [symbols]}  account
                           modes an operator may have set (a hostile account)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from quantum_trader.domain.enums import Side
from quantum_trader.domain.orders import Fill, Order
from quantum_trader.exchange.interface import OrderNotFound, OrderRejected
from quantum_trader.exchange.sim.http.faults import profile_from_json
from quantum_trader.exchange.sim.http.venue import Venue

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
AdminHandler = Callable[[dict[str, Any]], Awaitable[Any]]


class AdminError(Exception):
    pass


def dec(body: dict[str, Any], name: str) -> Decimal:
    try:
        return Decimal(str(body[name]))
    except (KeyError, InvalidOperation):
        raise AdminError(f"'{name}' must be a decimal string") from None


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AdminError(f"'{name}' is required")
    return value


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_json(o: Order) -> dict[str, Any]:
    """An order of the core's permanent record, decimals as strings."""
    return {
        "symbol": o.symbol,
        "side": o.side.value,
        "type": o.type.value,
        "status": o.status.value,
        "client_order_id": o.client_order_id,
        "exchange_order_id": o.exchange_order_id,
        "quantity": str(o.quantity),
        "executed_qty": str(o.executed_qty),
        "avg_price": str(o.avg_price),
        "price": _text(o.price),
        "stop_price": _text(o.stop_price),
        "reduce_only": o.reduce_only,
        "close_position": o.close_position,
        "working_type": o.working_type.value,
        "time_in_force": o.time_in_force.value,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    }


def fill_json(f: Fill) -> dict[str, Any]:
    """A fill of the core's permanent record, decimals as strings."""
    return {
        "symbol": f.symbol,
        "trade_id": f.trade_id,
        "exchange_order_id": f.exchange_order_id,
        "client_order_id": f.client_order_id,
        "side": f.side.value,
        "price": str(f.price),
        "qty": str(f.qty),
        "commission": str(f.commission),
        "commission_asset": f.commission_asset,
        "realized_pnl": str(f.realized_pnl),
        "maker": f.maker,
        "reduce_only": f.reduce_only,
        "ts": f.ts,
    }


def admin_routes(srv: Venue) -> list[web.RouteDef]:
    sim = srv.sim

    async def price(body: dict[str, Any]) -> Any:
        symbol = text(body, "symbol")
        mark = dec(body, "mark") if "mark" in body else None
        srv.lookup(lambda: sim.set_price(symbol, dec(body, "price"), mark))
        await srv.market_moved(symbol)
        return {"symbol": symbol, "price": str(srv.core.last_price(symbol))}

    async def mark(body: dict[str, Any]) -> Any:
        symbol = text(body, "symbol")
        srv.lookup(lambda: sim.set_mark(symbol, dec(body, "mark")))
        await srv.market_moved(symbol)
        return {"symbol": symbol, "mark": str(srv.core.mark_price(symbol).mark_price)}

    async def bar(body: dict[str, Any]) -> Any:
        symbol = text(body, "symbol")
        interval = str(body.get("interval", "1m"))
        o, h, low, c = (dec(body, k) for k in ("open", "high", "low", "close"))
        volume = dec(body, "volume") if "volume" in body else Decimal(0)
        open_time = int(body["open_time"])
        marks = ("mark_open", "mark_high", "mark_low", "mark_close")
        m = tuple(dec(body, k) for k in marks) if "mark_close" in body else None
        mark = None if m is None else (m[0], m[1], m[2], m[3])
        srv.lookup(lambda: sim.on_bar(symbol, open_time, o, h, low, c, volume, interval, mark))
        await srv.bar_closed(symbol, interval)
        return {"symbol": symbol, "now_ms": srv.core.now_ms}

    async def time(body: dict[str, Any]) -> Any:
        sim.advance_time(int(body["now_ms"]))
        await srv.publish()
        return {"now_ms": srv.core.now_ms}

    async def open_position(body: dict[str, Any]) -> Any:
        side = Side(text(body, "side").upper())
        symbol, qty = text(body, "symbol"), dec(body, "qty")
        order = srv.lookup(lambda: sim.open_position_by_hand(symbol, side, qty))
        await srv.publish()
        return {"clientOrderId": order.client_order_id, "status": order.status.value}

    async def close_position(body: dict[str, Any]) -> Any:
        symbol = text(body, "symbol")
        order = srv.lookup(lambda: sim.close_position_by_hand(symbol))
        await srv.publish()
        return {"clientOrderId": order.client_order_id if order else None}

    async def cancel(body: dict[str, Any]) -> Any:
        symbol, cid = text(body, "symbol"), text(body, "client_order_id")
        order = srv.lookup(lambda: sim.cancel_by_hand(symbol, cid))
        await srv.publish()
        return {"clientOrderId": order.client_order_id, "status": order.status.value}

    async def faults(body: dict[str, Any]) -> Any:
        if body:
            try:
                profile = profile_from_json(body)
            except ValueError as exc:
                raise AdminError(str(exc)) from None
            srv.faults.profile = profile
            sim.faults.switch(profile.sim)
        return srv.faults.profile.describe()

    async def ws_drop(body: dict[str, Any]) -> Any:
        await srv.users.drop_all()
        return {"dropped": True}

    async def expire(body: dict[str, Any]) -> Any:
        await srv.users.expire_all(srv.clock.now_ms())
        return {"expired": True}

    async def release(body: dict[str, Any]) -> Any:
        sim.release_delayed()
        await srv.publish()
        return {"released": True}

    async def state(body: dict[str, Any]) -> Any:
        config = srv.core.config
        return {
            "now_ms": srv.core.now_ms,
            "maker_fee": str(config.maker_fee),
            "taker_fee": str(config.taker_fee),
            "fault_profile": srv.faults.profile.name,
            "dropped_events": len(sim.dropped_events),
            "user_sockets": srv.users.connected,
            "weight_used": srv.weights.used,
        }

    async def requests(body: dict[str, Any]) -> Any:
        return list(srv.requests)

    async def history(body: dict[str, Any]) -> Any:
        snapshot = srv.core.history()
        return {
            "now_ms": srv.core.now_ms,
            "orders": [order_json(o) for o in snapshot.orders],
            "fills": [fill_json(f) for f in snapshot.fills],
        }

    async def account_modes(body: dict[str, Any]) -> Any:
        modes = srv.modes
        if "dual_side" in body:
            modes.dual_side = bool(body["dual_side"])
        if "multi_assets" in body:
            modes.multi_assets = bool(body["multi_assets"])
        if "isolated" in body:
            for symbol in body["isolated"]:
                srv.core.instrument(str(symbol))  # an unknown symbol is an error
            modes.isolated = {str(x) for x in body["isolated"]}
        return {
            "dual_side": modes.dual_side,
            "multi_assets": modes.multi_assets,
            "isolated": sorted(modes.isolated),
        }

    table: dict[str, AdminHandler] = {
        "price": price,
        "mark": mark,
        "bar": bar,
        "time": time,
        "position/open": open_position,
        "position/close": close_position,
        "order/cancel": cancel,
        "faults": faults,
        "ws/drop": ws_drop,
        "listenkey/expire": expire,
        "events/release": release,
        "state": state,
        "requests": requests,
        "history": history,
        "account": account_modes,
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.remote not in LOOPBACK:
            return web.json_response({"error": "admin is loopback only"}, status=403)
        handler = table.get(request.match_info["op"])
        if handler is None:
            return web.json_response({"error": "unknown admin operation"}, status=404)
        try:
            body = await request.json() if request.can_read_body else {}
            return web.json_response(await handler(body or {}))
        except (AdminError, ValueError, KeyError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except OrderNotFound as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except OrderRejected as exc:
            return web.json_response({"code": exc.code, "msg": exc.message}, status=400)
        except Exception as exc:  # a BinanceError from the core (e.g. unknown symbol)
            code = getattr(exc, "code", None)
            if code is None:
                raise
            return web.json_response({"code": code, "msg": getattr(exc, "msg", "")}, status=400)

    return [web.route("*", "/admin/{op:.+}", handle)]
