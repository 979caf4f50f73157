"""The recorded Binance material the HTTP front is checked against: ccxt's recorded
USDⓈ-M requests (binance-usdm-requests.json) and responses (binance-usdm-responses.json),
and the Binance field sets of each endpoint's answer."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import aiohttp
from yarl import URL

from quantum_trader.exchange.sim.http import DEFAULT_API_KEY, DEFAULT_API_SECRET
from tests.conftest import shared_data

from .conftest import START_MS, Rig

UNSIGNED = {"signature", "timestamp", "recvWindow"}


def fapi_cases() -> list[dict[str, Any]]:
    """Every recorded case that targets the USDⓈ-M API (``/fapi`` and ``/futures/data``)."""
    cases = json.loads(shared_data("binance-usdm-requests.json").read_text(encoding="utf-8"))
    return [c for c in cases if c["api"] == "fapi"]


def verb(case: dict[str, Any]) -> str:
    name = case["method"]
    if name.startswith("edit"):
        return "PUT"
    if case["output"]:
        return "POST"
    return "DELETE" if name.startswith("cancel") else "GET"


def recorded_params(case: dict[str, Any]) -> dict[str, str]:
    url = urlparse(case["url"])
    return dict(parse_qsl(url.query, keep_blank_values=True)) | dict(
        parse_qsl(case["output"] or "", keep_blank_values=True)
    )


def key_of(case: dict[str, Any]) -> str:
    return f"{case['method']}: {case['description']}"


def responses() -> dict[str, Any]:
    """The recorded USDⓈ-M response bodies by ``method: description``."""
    rows = json.loads(shared_data("binance-usdm-responses.json").read_text(encoding="utf-8"))
    out = {}
    for r in rows:
        if r["api"] == "fapi":
            body = r["httpResponse"]
            out[key_of(r)] = json.loads(body) if isinstance(body, str) else body
    return out


def fields(body: Any) -> set[str]:
    """Field names of an object, or of a list's first object."""
    first = body[0] if isinstance(body, list) and body else body
    return set(first) if isinstance(first, dict) else set()


def order_fields() -> set[str]:
    """Binance's order body: the recorded create (RESULT) and query answers together."""
    recorded = responses()
    return fields(recorded["createOrders: create swap orders"]) | fields(
        recorded["fetchOpenOrder: swap open order"]
    )


ALGO = {"algoId", "clientAlgoId", "algoType", "orderType", "symbol", "side", "positionSide",
        "timeInForce", "quantity", "algoStatus", "triggerPrice", "price", "workingType",
        "priceMatch", "closePosition", "priceProtect", "reduceOnly", "createTime",
        "updateTime", "triggerTime", "goodTillDate", "selfTradePreventionMode",
        "actualOrderId", "actualPrice", "icebergQuantity"}  # fmt: skip
# Binance's documented fields of the answers the recorded responses file has no case for.
DOCUMENTED: dict[str, set[str]] = {
    "/fapi/v1/ticker/24hr": {"symbol", "priceChange", "priceChangePercent",
        "weightedAvgPrice", "lastPrice", "lastQty", "openPrice", "highPrice", "lowPrice",
        "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"},
    "/fapi/v2/ticker/price": {"symbol", "price", "time"},
    "/fapi/v1/ticker/bookTicker": {"symbol", "bidPrice", "bidQty", "askPrice", "askQty",
        "time", "lastUpdateId"},
    "/fapi/v1/premiumIndex": {"symbol", "markPrice", "indexPrice", "estimatedSettlePrice",
        "lastFundingRate", "interestRate", "nextFundingTime", "time"},
    "/fapi/v1/fundingRate": {"symbol", "fundingRate", "fundingTime", "markPrice"},
    "/fapi/v1/aggTrades": {"a", "p", "q", "f", "l", "T", "m"},
    "/fapi/v1/leverageBracket": {"symbol", "brackets"},
    "/fapi/v1/leverage": {"leverage", "maxNotionalValue", "symbol"},
    "/fapi/v1/income": {"symbol", "incomeType", "income", "asset", "info", "time",
        "tranId", "tradeId"},
    "/fapi/v1/accountConfig": {"feeTier", "canTrade", "canDeposit", "canWithdraw",
        "dualSidePosition", "updateTime", "multiAssetsMargin", "tradeGroupId"},
    "/fapi/v1/commissionRate": {"symbol", "makerCommissionRate", "takerCommissionRate"},
    "/fapi/v1/fundingInfo": {"symbol", "adjustedFundingRateCap",
        "adjustedFundingRateFloor", "fundingIntervalHours", "disclaimer"},
    "/fapi/v1/openInterest": {"openInterest", "symbol", "time"},
    "/fapi/v1/positionSide/dual": {"dualSidePosition"},
    "/fapi/v1/adlQuantile": {"symbol", "adlQuantile"},
    "/fapi/v1/allOpenOrders": {"code", "msg"},
    "/fapi/v1/algoOpenOrders": {"code", "msg"},
    "/fapi/v1/algoOrder": ALGO,
    "/fapi/v1/openAlgoOrders": ALGO,
    "/fapi/v1/allAlgoOrders": ALGO,
}  # fmt: skip


def expected_fields(method: str, path: str) -> set[str] | None:
    """The fields Binance's successful answer to ``method path`` carries (None: rows)."""
    recorded = responses()
    if path in ("/fapi/v1/order", "/fapi/v1/openOrder", "/fapi/v1/openOrders",
                "/fapi/v1/allOrders", "/fapi/v1/forceOrders", "/fapi/v1/batchOrders"):  # fmt: skip
        return order_fields()
    if path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        return fields(recorded["fetchPositions: Fetch linear positions without symbols"])
    if path in ("/fapi/v2/account", "/fapi/v3/account"):
        return fields(recorded["fetchBalance: Linear swap balance"])
    if path == "/fapi/v1/userTrades":
        return fields(recorded["fetchMyTrades: Swap private trade"])
    if path in ("/fapi/v1/depth", "/fapi/v1/rpiDepth"):
        return fields(recorded["fetchOrderBook: swap orderbook"])
    if path == "/fapi/v1/symbolConfig":
        return fields(recorded["fetchMarginMode: linear swap fetch margin mode"])
    if path == "/fapi/v1/positionMargin/history":
        return fields(recorded["fetchMarginAdjustmentHistory: fetch margin adjustment history"])
    if path.endswith("Klines") or path == "/fapi/v1/klines":
        return None
    if method == "POST" and path in ("/fapi/v1/marginType", "/fapi/v1/positionSide/dual"):
        return {"code", "msg"}
    return DOCUMENTED.get(path)


def check_fields(method: str, path: str, body: Any) -> list[str]:
    """What the answer lacks of Binance's fields (klines: rows of 12)."""
    wanted = expected_fields(method, path)
    rows = body if isinstance(body, list) else [body]
    if wanted is None:
        return [f"row of {len(r)}" for r in rows if not isinstance(r, list) or len(r) != 12]
    missing = []
    if path in ("/fapi/v2/account", "/fapi/v3/account") and isinstance(body, dict):
        recorded = responses()["fetchBalance: Linear swap balance"]
        positions = responses()["fetchPositions: Fetch linear positions using account endnpoint"]
        for name, sample in (("assets", recorded), ("positions", positions)):
            wanted_inner = fields(sample[name])
            missing += [f"{name}: {sorted(wanted_inner - set(r))}" for r in body[name]
                        if not wanted_inner <= set(r)]  # fmt: skip
    for row in rows:
        if isinstance(row, dict) and set(row) == {"code", "msg"} and row["code"] != 200:
            continue  # one entry of a batch refused: Binance's error object
        if not isinstance(row, dict) or not wanted <= set(row):
            missing.append(f"{sorted(wanted - set(row)) if isinstance(row, dict) else row}")
    return missing


def signed_query(params: dict[str, str], now_ms: int) -> str:
    query = urlencode({**params, "timestamp": str(now_ms), "recvWindow": "10000"})
    signature = hmac.new(DEFAULT_API_SECRET.encode(), query.encode(), hashlib.sha256)
    return f"{query}&signature={signature.hexdigest()}"


async def send(
    session: aiohttp.ClientSession, base: str, case: dict[str, Any], now_ms: int
) -> tuple[int, Any]:
    """The recorded request itself, signed with the simulator's key: (status, JSON body)."""
    method, path = verb(case), urlparse(case["url"]).path
    raw = recorded_params(case)
    signed = "signature" in raw
    params = {k: v for k, v in raw.items() if k not in UNSIGNED}
    text = signed_query(params, now_ms) if signed else urlencode(params)
    headers = {"X-MBX-APIKEY": DEFAULT_API_KEY}
    if method in ("POST", "PUT"):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        call = session.request(method, base + path, data=text, headers=headers)
    else:
        url = URL(f"{base}{path}?{text}", encoded=True)  # sent as signed, not requoted
        call = session.request(method, url, headers=headers)
    async with call as resp:
        return resp.status, await resp.json(content_type=None)


async def prepare(rig: Rig) -> None:
    """The account the recorded calls meet: prices and a few 1m bars on the symbols they
    name, and the open orders they refer to by client id (``myid123``, ``myswap``)."""
    prices = {"BTCUSDT": "60000", "ETHUSDT": "3000", "LTCUSDT": "70", "XRPUSDT": "0.6"}
    for symbol, price in prices.items():
        await rig.admin.set_price(symbol, Decimal(price))
        for k in range(3):
            p = Decimal(price)
            bar = {"symbol": symbol, "open_time": START_MS + k * 60_000, "open": str(p),
                   "high": str(p * Decimal("1.001")), "low": str(p * Decimal("0.999")),
                   "close": str(p), "volume": "10"}  # fmt: skip
            await rig.admin.post("bar", bar)
    async with aiohttp.ClientSession() as session:
        for symbol, cid, qty, price in (("LTCUSDT", "myid123", "1", "55"),
                                        ("BTCUSDT", "myswap", "0.002", "50000")):  # fmt: skip
            order = {"symbol": symbol, "side": "BUY", "type": "LIMIT", "quantity": qty,
                     "price": price, "timeInForce": "GTC", "newClientOrderId": cid}  # fmt: skip
            body = signed_query(order, rig.server.clock.now_ms())
            headers = {"X-MBX-APIKEY": DEFAULT_API_KEY,
                       "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
            async with session.post(f"{rig.url}/fapi/v1/order", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
