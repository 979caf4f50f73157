"""WebSocket streams: the user-data stream behind listen keys (market streams are in
``market_streams``).

``/ws/<listenKey>`` carries ORDER_TRADE_UPDATE, ALGO_UPDATE and ACCOUNT_UPDATE events
and ends with ``listenKeyExpired`` when its key expires (60 minutes without keepalive, or
forced by a fault or an admin call).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from quantum_trader.domain.enums import OrderStatus
from quantum_trader.exchange.interface import AccountUpdate, OrderUpdate
from quantum_trader.exchange.sim.http.binance_json import ALGO_STATUS, JSON, s, triggered

LISTEN_KEY_TTL_MS = 60 * 60 * 1000


class UserStreams:
    """Listen keys and the sockets attached to them (one simulated account)."""

    def __init__(self, seed: int = 0) -> None:
        self.expiry: dict[str, int] = {}
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._seq = itertools.count(1)
        self._seed = seed

    def create(self, now_ms: int) -> str:
        """Binance hands back the account's live key if it has one, extended."""
        for key, expires in self.expiry.items():
            if expires > now_ms:
                self.expiry[key] = now_ms + LISTEN_KEY_TTL_MS
                return key
        digest = hashlib.sha256(f"{self._seed}:{next(self._seq)}".encode()).hexdigest()
        key = digest[:60]
        self.expiry[key] = now_ms + LISTEN_KEY_TTL_MS
        return key

    def valid(self, key: str, now_ms: int) -> bool:
        return self.expiry.get(key, 0) > now_ms

    def keepalive(self, key: str, now_ms: int) -> bool:
        if not self.valid(key, now_ms):
            return False
        self.expiry[key] = now_ms + LISTEN_KEY_TTL_MS
        return True

    async def delete(self, key: str) -> None:
        self.expiry.pop(key, None)
        for ws in list(self.sockets.pop(key, ())):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    async def expire(self, key: str, now_ms: int) -> None:
        """Tell the key's sockets it expired, then close them (Binance's behaviour)."""
        self.expiry.pop(key, None)
        event = json.dumps({"e": "listenKeyExpired", "E": now_ms, "listenKey": key})
        for ws in list(self.sockets.pop(key, ())):
            if not ws.closed:
                await ws.send_str(event)
                await ws.close(code=WSCloseCode.GOING_AWAY)

    async def expire_all(self, now_ms: int) -> None:
        for key in list(self.expiry):
            await self.expire(key, now_ms)

    async def expire_stale(self, now_ms: int) -> None:
        for key, expires in list(self.expiry.items()):
            if expires <= now_ms:
                await self.expire(key, now_ms)

    async def drop_all(self) -> None:
        """A network drop: sockets close without any event; keys stay valid."""
        for key in list(self.sockets):
            for ws in list(self.sockets.pop(key, ())):
                await ws.close(code=WSCloseCode.ABNORMAL_CLOSURE)

    async def push(self, payloads: list[dict[str, Any]]) -> None:
        for sockets in list(self.sockets.values()):
            for ws in list(sockets):
                if ws.closed:
                    sockets.discard(ws)
                    continue
                for payload in payloads:
                    await ws.send_str(json.dumps(payload))

    @property
    def connected(self) -> int:
        return sum(len(s) for s in self.sockets.values())


async def serve_socket(
    request: web.Request, register: Any, unregister: Any, on_text: Any = None
) -> web.WebSocketResponse:
    """Run one socket until the peer or the server closes it (pings answered by aiohttp);
    ``on_text(ws, text)`` gets the client's text messages (a market socket's commands)."""
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    await ws.prepare(request)
    register(ws)
    try:
        async for message in ws:
            if on_text is not None and message.type == WSMsgType.TEXT:
                await on_text(ws, message.data)
    finally:
        unregister(ws)
    return ws


# -- user-data events in Binance's shape ------------------------------------------------


def order_event(update: OrderUpdate) -> JSON:
    """ORDER_TRADE_UPDATE for a regular order or a triggered conditional one."""
    o, fill = update.order, update.fill
    execution = "TRADE" if fill is not None else _execution_type(o.status)
    body: JSON = {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side.value,
        "o": o.type.value,
        "f": o.time_in_force.value,
        "q": s(o.quantity),
        "p": s(o.price),
        "ap": s(o.avg_price),
        "sp": s(o.stop_price),
        "x": execution,
        "X": o.status.value,
        "i": int(o.exchange_order_id),
        "l": s(fill.qty) if fill else "0",
        "z": s(o.executed_qty),
        "L": s(fill.price) if fill else "0",
        "N": fill.commission_asset if fill else "USDT",
        "n": s(fill.commission) if fill else "0",
        "T": update.ts,
        "t": int(fill.trade_id) if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.maker if fill else False,
        "R": o.reduce_only,
        "wt": o.working_type.value,
        "ot": o.type.value,
        "ps": "BOTH",
        "cp": o.close_position,
        "rp": s(fill.realized_pnl) if fill else "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
    }
    return {"e": "ORDER_TRADE_UPDATE", "E": update.ts, "T": update.ts, "o": body}


def algo_event(update: OrderUpdate) -> JSON:
    """ALGO_UPDATE: a conditional order's life on the algo service."""
    o = update.order
    body: JSON = {
        "caid": o.client_order_id,
        "aid": int(o.exchange_order_id),
        "at": "CONDITIONAL",
        "o": o.type.value,
        "s": o.symbol,
        "S": o.side.value,
        "ps": "BOTH",
        "f": o.time_in_force.value,
        "q": s(o.quantity),
        "X": ALGO_STATUS[o.status],
        "ai": o.exchange_order_id if triggered(o) else "",
        "ap": s(o.avg_price),
        "aq": s(o.executed_qty),
        "act": "MARKET",
        "tp": s(o.stop_price),
        "p": s(o.price),
        "V": "EXPIRE_MAKER",
        "wt": o.working_type.value,
        "pm": "NONE",
        "cp": o.close_position,
        "pP": False,
        "R": o.reduce_only,
        "tt": o.updated_at if triggered(o) else 0,
        "gtd": 0,
    }
    return {"e": "ALGO_UPDATE", "E": update.ts, "T": update.ts, "o": body}


def account_event(update: AccountUpdate, touched: set[str]) -> JSON:
    """ACCOUNT_UPDATE: the wallet and the positions of every symbol the change touched."""
    a = update.account
    open_positions = {p.symbol: p for p in a.positions}
    rows = []
    for symbol in sorted(touched | set(open_positions)):
        p = open_positions.get(symbol)
        rows.append(
            {
                "s": symbol,
                "pa": s(p.signed_qty) if p else "0",
                "ep": s(p.entry_price) if p else "0",
                "bep": s(p.entry_price) if p else "0",
                "cr": "0",
                "up": s(p.unrealized_pnl) if p else "0",
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        )
    wallet = s(a.wallet_balance)
    balances = [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}]
    body = {"m": update.reason, "B": balances, "P": rows}
    return {"e": "ACCOUNT_UPDATE", "E": update.ts, "T": update.ts, "a": body}


def _execution_type(status: OrderStatus) -> str:
    if status is OrderStatus.CANCELED:
        return "CANCELED"
    if status is OrderStatus.EXPIRED:
        return "EXPIRED"
    return "NEW"
