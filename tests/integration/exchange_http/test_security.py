"""Binance's request security on the HTTP front, and the error classes the adapter maps to."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import OrderRejected, RetryableError
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimHttpServer

from .conftest import Rig


def signed_query(params: dict[str, Any], secret: str = DEFAULT_API_SECRET) -> str:
    query = urlencode(params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def get_account(url: str, query: str, key: str = DEFAULT_API_KEY) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/fapi/v3/account?{query}", headers={"X-MBX-APIKEY": key}) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_signed_request_is_accepted_and_reports_weight(rig: Rig) -> None:
    status, body, headers = await get_account(rig.url, signed_query({"timestamp": now_ms()}))
    assert status == 200 and body["totalWalletBalance"] == "10000"
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) == 5


async def test_bad_signature_is_minus_1022(rig: Rig) -> None:
    status, body, _ = await get_account(rig.url, signed_query({"timestamp": now_ms()}, "nope"))
    assert (status, body["code"]) == (400, -1022)
    ex = CcxtBinanceExchange("sim", base_url=rig.url, api_key=DEFAULT_API_KEY, api_secret="x")
    try:
        with pytest.raises(OrderRejected) as caught:
            await ex.account()
        assert caught.value.code == -1022
    finally:
        await ex.close()


async def test_unknown_key_is_minus_2015_with_401(rig: Rig) -> None:
    status, body, _ = await get_account(rig.url, signed_query({"timestamp": now_ms()}), "who")
    assert (status, body["code"]) == (401, -2015)
    ex = CcxtBinanceExchange("sim", base_url=rig.url, api_key="who", api_secret="x")
    try:
        with pytest.raises(OrderRejected) as caught:
            await ex.account()
        assert caught.value.code == -2015
    finally:
        await ex.close()


async def test_stale_and_future_timestamps_are_minus_1021(rig: Rig) -> None:
    stale = signed_query({"timestamp": now_ms() - 20_000, "recvWindow": 5000})
    ahead = signed_query({"timestamp": now_ms() + 5_000})
    for query in (stale, ahead):
        status, body, _ = await get_account(rig.url, query)
        assert (status, body["code"]) == (400, -1021)


class AheadClock:
    """A server clock 30 s ahead of the client's: every signed request looks stale."""

    def now_ms(self) -> int:
        return now_ms() + 30_000

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("not used")


async def test_adapter_maps_stale_timestamp_to_rejection() -> None:
    server = SimHttpServer(SimExchange(MatchingCore()), clock=AheadClock())
    url = await server.start()
    ex = CcxtBinanceExchange("sim", base_url=url, user_stream=False)
    try:
        with pytest.raises(OrderRejected) as caught:
            await ex.account()
        assert caught.value.code == -1021
    finally:
        await ex.close()
        await server.stop()


async def test_exceeded_weight_is_429_and_retryable() -> None:
    server = SimHttpServer(SimExchange(MatchingCore()), weight_limit=12)
    url = await server.start()
    ex = CcxtBinanceExchange("sim", base_url=url, user_stream=False)
    try:
        await ex.positions()  # exchangeInfo 1 + positionRisk 5
        with pytest.raises(RetryableError) as caught:
            await ex.account()  # account 5 + positionRisk 5 > 12
        assert 1 <= caught.value.retry_after_s <= 60
        status, body, headers = await get_account(url, signed_query({"timestamp": now_ms()}))
        assert (status, body["code"]) == (429, -1003) and "Retry-After" in headers
    finally:
        await ex.close()
        await server.stop()


async def test_admin_refuses_nothing_on_loopback_and_needs_no_signature(rig: Rig) -> None:
    state = await rig.admin.get("state")
    assert state["fault_profile"] == "none" and state["taker_fee"] == "0.0005"


def test_live_mode_needs_explicit_consent() -> None:
    with pytest.raises(ValueError, match="i_understand_live"):
        CcxtBinanceExchange("live", api_key="k", api_secret="s")
