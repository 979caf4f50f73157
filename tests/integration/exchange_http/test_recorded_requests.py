"""The recorded Binance USDⓈ-M requests (binance-usdm-requests.json) against the HTTP front.

Two checks. First, every recorded case is sent as recorded (its path and parameters,
signed with the simulator's key) and must be answered as Binance answers it: a success
carrying Binance's fields (the recorded responses' field sets, else the documented
ones), or Binance's error shape with the code Binance gives that request on this
account — the table below lists every such case and why. Second, each case a ccxt
unified method can make is replayed through ccxt, and the request the server receives
must have the recorded path and parameter names (hosts, signatures, timestamps and
parameter order are not compared). The recording predates ccxt's move of conditional
orders to ``clientAlgoId``, so that name and ``newClientOrderId`` count as one. ccxt
refuses before sending what the venue's exchangeInfo does not list: stop-limit and
trailing orders, and the USDBRL market.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import aiohttp
import ccxt.async_support as ccxt

from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.sim.http.binance_json import ORDER_TYPES
from quantum_trader.exchange.sim.http.server import ROUTES

from .conftest import Rig
from .recorded import check_fields, fapi_cases, key_of, prepare, recorded_params, send, verb

SKIP_KEYS = {"signature", "timestamp", "recvWindow", "newClientOrderId", "clientAlgoId"}
UNLISTED = "-1121: USDBRLUSDT is not listed"
NOT_SERVED = "-5000: market-wide statistics of other traders, which the venue has not"
NO_SUCH_ID = "an order id of the recording, never placed on this account"
STOP_LIMIT = "-1116: stop-limit, take-profit-limit and trailing orders are not executed"
# Every recorded case the venue refuses, with Binance's code and the reason.
REFUSED: dict[str, tuple[int, str]] = {
    "editOrderWithClientOrderId: edit  order with clientOrderId": (
        -2013, "myid123 was cancelled by the case before"),
    "createOrder: Swap limit buy with triggerPrice": (-1116, STOP_LIMIT),
    "createOrder: Swap limit sell with takeProfitPrice (type 2)": (-1116, STOP_LIMIT),
    "createOrder: Swap limit sell with stopLossPrice (type 2)": (-1116, STOP_LIMIT),
    "createOrder: Swap trailingPercent order": (-1116, STOP_LIMIT),
    "createOrder: swap trigger bbo order": (-1116, STOP_LIMIT),
    "createOrder: linear swap conditional createOrder": (-1116, STOP_LIMIT),
    "createOrder: Swap limit buy with reduce only (closing short position)": (
        -2022, "the account is long LTC (the market buy before): nothing to reduce"),
    "createOrder: swap order with priceMatch": (-5037, "no BBO price matching"),
    "createOrder: swap limit bbo order": (-5037, "no BBO price matching"),
    "createOrder: swap hedged reduceOnly market sell order": (
        -4061, "positionSide LONG on a one-way account"),
    "createOrder: swap hedged reduceOnly market buy order": (
        -4061, "positionSide SHORT on a one-way account"),
    "createOrder: Exchange rate underlying swap createOrder": (-1121, UNLISTED),
    "editOrder: edit swap order": (-2013, NO_SUCH_ID),
    "cancelOrder: Swap cancelOrder": (-2011, NO_SUCH_ID),
    "cancelOrder: linear swap conditional cancelOrder": (-2011, NO_SUCH_ID),
    "cancelOrder: Exchange rate underlying swap cancelOrder": (-1121, UNLISTED),
    "fetchOrders: Exchange rate underlying swap fetchOrders": (-1121, UNLISTED),
    "fetchOrder: Swap fetchOrder": (-2013, NO_SUCH_ID),
    "fetchOrder: linear swap conditional fetchOrder": (-2013, NO_SUCH_ID),
    "fetchOrder: Exchange rate underlying swap fetchOrder": (-1121, UNLISTED),
    "fetchOpenOrders: Exchange rate underlying swap fetchOpenOrders": (-1121, UNLISTED),
    "fetchCanceledOrders: Exchange rate underlying swap fetchCanceledOrders": (
        -1121, UNLISTED),
    "setMarginMode: Set margin mode to cross": (-4046, "the account is cross already"),
    "fetchOHLCV: Exchange rate underlying swap fetchOHLCV": (-1121, UNLISTED),
    "fetchTrades: Exchange rate underlying swap fetchTrades": (-1121, UNLISTED),
    "fetchOpenInterestHistory: Fetch Open Interest History - linear": (-5000, NOT_SERVED),
    "setPositionMode: Swap linear setPositionMode": (
        -4068, "the account holds positions by then"),
    "fetchOpenOrder: Linear swap fetch open order": (-2013, NO_SUCH_ID),
    "fetchOpenOrder: Exchange rate underlying swap fetchOpenOrder": (-1121, UNLISTED),
    "addMargin: add margin": (-4054, "no position is isolated on this venue"),
    "addMargin: add small amount of margin": (-4054, "no position is isolated"),
    "reduceMargin: reduce margin": (-4051, "no isolated margin to take"),
    "reduceMargin: reduce small amount of margin": (-4051, "no isolated margin to take"),
    "fetchLongShortRatioHistory: linear swap fetch long short ratio history": (
        -5000, NOT_SERVED),
    "fetchADLRank: linear swap fetchADLRank": (-5000, "the public ADL risk rating"),
}  # fmt: skip


async def test_every_recorded_request_is_answered_as_binance_answers_it(rig: Rig) -> None:
    await prepare(rig)
    cases = fapi_cases()
    wrong: list[tuple[str, Any]] = []
    answered: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for case in cases:
            status, body = await send(session, rig.url, case, rig.server.clock.now_ms())
            name, path = key_of(case), urlparse(case["url"]).path
            refused = REFUSED.get(name)
            if isinstance(body, dict) and set(body) == {"code", "msg"} and status != 200:
                answered[name] = body["code"]
                if refused is None or refused[0] != body["code"]:
                    wrong.append((name, (status, body)))
            elif refused is not None:
                wrong.append((name, f"answered {status} instead of {refused[0]}"))
            elif status != 200 or (missing := check_fields(verb(case), path, body)):
                wrong.append((name, (status, body if status != 200 else missing)))
    assert len(cases) == 109
    assert wrong == []
    assert set(answered) == set(REFUSED)


def shape(method: str, path: str, params: dict[str, str]) -> tuple[str, str, frozenset[str]]:
    return method, path, frozenset(k for k in params if k not in SKIP_KEYS)


def ccxt_sends(case: dict[str, Any], markets: dict[str, Any]) -> bool:
    """ccxt builds this request: the venue lists its market and its order type."""
    symbols = [a for a in case["input"] if isinstance(a, str) and "/" in a]
    path = urlparse(case["url"]).path.lower()
    kind = recorded_params(case).get("type") if "order" in path else None
    return all(s in markets for s in symbols) and (kind is None or kind in ORDER_TYPES)


async def test_ccxt_requests_match_the_recorded_ones(rig: Rig) -> None:
    await prepare(rig)
    ex = CcxtBinanceExchange("sim", base_url=rig.url, user_stream=False)
    await ex.start()
    client = ex.ccxt_client
    compared, mismatches = 0, []
    try:
        for case in fapi_cases():
            path = urlparse(case["url"]).path
            method = verb(case)
            if (method, path) not in ROUTES or not hasattr(client, case["method"]):
                continue
            if not ccxt_sends(case, client.markets):
                continue
            expected = shape(method, path, recorded_params(case))
            rig.server.requests.clear()
            try:
                await getattr(client, case["method"])(*case["input"])
            except ccxt.BaseError:
                pass  # a refusal is fine: only the request is compared
            seen = [shape(r["method"], r["path"], r["params"]) for r in rig.server.requests]
            compared += 1
            if expected not in seen:
                mismatches.append((case["method"], case["description"], expected, seen))
    finally:
        await ex.close()
    assert compared >= 91  # all 109 but USDBRL, stop-limit, trailing and statistics cases
    assert mismatches == []
