"""ccxt's requests to the HTTP front match the recorded ones (binance-usdm-requests.json).

Each recorded USDⓈ-M case whose endpoint we serve is replayed through ccxt against the
local server; the request the server receives must have the recorded path and parameter
names (hosts, signatures, timestamps and parameter order are not compared). The recording
predates ccxt's move of conditional orders to ``clientAlgoId``, so that name and
``newClientOrderId`` count as the same client-id parameter. Trailing stops are outside
the simulator's order types (its exchangeInfo does not list them), so ccxt refuses them
before sending and those cases are left out.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlparse

import ccxt.async_support as ccxt

from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.sim.http.server import ROUTES
from tests.conftest import shared_data

from .conftest import Rig

SKIP_KEYS = {"signature", "timestamp", "recvWindow", "newClientOrderId", "clientAlgoId"}


def recorded_cases() -> list[dict[str, Any]]:
    cases = json.loads(shared_data("binance-usdm-requests.json").read_text(encoding="utf-8"))
    return [
        c
        for c in cases
        if c["api"] == "fapi" and "options" not in c and "trailing" not in json.dumps(c["input"])
    ]


def shape(method: str, path: str, params: dict[str, str]) -> tuple[str, str, frozenset[str]]:
    return method, path, frozenset(k for k in params if k not in SKIP_KEYS)


async def test_ccxt_requests_match_the_recorded_ones(rig: Rig) -> None:
    ex = CcxtBinanceExchange("sim", base_url=rig.url, user_stream=False)
    await ex.start()
    client = ex.ccxt_client
    compared, mismatches = 0, []
    try:
        for case in recorded_cases():
            url = urlparse(case["url"])
            method = _verb(case)
            if (method, url.path) not in ROUTES or not hasattr(client, case["method"]):
                continue
            symbols = [a for a in case["input"] if isinstance(a, str) and "/" in a]
            if any(s not in client.markets for s in symbols):
                continue
            params = dict(parse_qsl(url.query)) | dict(parse_qsl(case["output"] or ""))
            expected = shape(method, url.path, params)
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
    assert compared >= 30
    assert mismatches == []


def _verb(case: dict[str, Any]) -> str:
    name = case["method"]
    if name.startswith("edit"):
        return "PUT"
    if case["output"]:
        return "POST"
    return "DELETE" if name.startswith("cancel") else "GET"
