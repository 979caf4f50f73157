"""Binance's request security: API key, HMAC-SHA256 signature, timestamp window, weight.

Errors are Binance's: -2015 unknown key (HTTP 401), -1022 bad signature, -1021 timestamp
outside recvWindow, -1003 / HTTP 429 with ``Retry-After`` when the per-minute request
weight is spent. The signed payload is the raw query string followed by the raw body,
without the ``signature`` parameter, exactly as Binance documents it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

DEFAULT_API_KEY = "quantum-sim-key"
DEFAULT_API_SECRET = "quantum-sim-secret"
DEFAULT_WEIGHT_LIMIT = 2400
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000


class BinanceError(Exception):
    """A request refused the Binance way: HTTP status plus ``{"code": ..., "msg": ...}``."""

    def __init__(
        self, status: int, code: int, msg: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = dict(headers or {})


def bad_request(code: int, msg: str) -> BinanceError:
    return BinanceError(400, code, msg)


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET


def split_signature(query: str, body: str) -> tuple[str, str | None]:
    """(signed payload, signature) from the raw query string and body."""
    signature: str | None = None
    parts: list[str] = []
    for source in (query, body):
        kept = []
        for piece in source.split("&") if source else []:
            if piece.startswith("signature="):
                signature = piece[len("signature=") :]
            else:
                kept.append(piece)
        parts.append("&".join(kept))
    return "".join(parts), signature


def check_signed(
    credentials: Credentials,
    headers: Mapping[str, str],
    query: str,
    body: str,
    now_ms: int,
) -> None:
    """Raise ``BinanceError`` unless the request is signed by our key within its window."""
    if headers.get("X-MBX-APIKEY") != credentials.api_key:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    payload, signature = split_signature(query, body)
    params = dict(parse_qsl(payload, keep_blank_values=True))
    if "timestamp" not in params:
        raise bad_request(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null.")
    if signature is None:
        raise bad_request(-1102, "Mandatory parameter 'signature' was not sent, was empty/null.")
    expected = hmac.new(
        credentials.api_secret.encode(), payload.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise bad_request(-1022, "Signature for this request is not valid.")
    try:
        timestamp = int(params["timestamp"])
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except ValueError:
        raise bad_request(-1100, "Illegal characters found in parameter 'timestamp'.") from None
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise bad_request(-1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + 1000:
        raise bad_request(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now_ms - timestamp > window:
        raise bad_request(-1021, "Timestamp for this request is outside of the recvWindow.")


def check_api_key(credentials: Credentials, headers: Mapping[str, str]) -> None:
    """Listen-key endpoints: the key alone, no signature (as on Binance)."""
    if headers.get("X-MBX-APIKEY") != credentials.api_key:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


class WeightMeter:
    """Request weight used in the current minute; Binance answers 429 once it is spent."""

    def __init__(self, limit: int = DEFAULT_WEIGHT_LIMIT) -> None:
        self.limit = limit
        self._minute = -1
        self.used = 0
        self.peak = 0  # the most weight any one minute used so far

    def spend(self, weight: int, now_ms: int) -> int:
        """Account ``weight``; returns the minute's total or raises 429 with Retry-After."""
        minute = now_ms // 60_000
        if minute != self._minute:
            self._minute, self.used = minute, 0
        if self.used + weight > self.limit:
            retry_after = max(1, 60 - (now_ms // 1000) % 60)
            raise BinanceError(
                429,
                -1003,
                f"Too much request weight used; current limit is {self.limit} request weight "
                "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                "the API.",
                {"Retry-After": str(retry_after), "X-MBX-USED-WEIGHT-1M": str(self.used)},
            )
        self.used += weight
        self.peak = max(self.peak, self.used)
        return self.used


# Weights from Binance's USDⓈ-M docs (the ones that differ from 1).
WEIGHTS: dict[str, int] = {
    "/fapi/v1/klines": 5,
    "/fapi/v1/premiumIndex": 1,
    "/fapi/v1/ticker/price": 1,
    "/fapi/v2/ticker/price": 1,
    "/fapi/v2/account": 5,
    "/fapi/v3/account": 5,
    "/fapi/v2/positionRisk": 5,
    "/fapi/v3/positionRisk": 5,
    "/fapi/v2/balance": 5,
    "/fapi/v3/balance": 5,
    "/fapi/v1/userTrades": 5,
    "/fapi/v1/allOrders": 5,
    "/fapi/v1/allAlgoOrders": 5,
    "/fapi/v1/markPriceKlines": 5,
    "/fapi/v1/indexPriceKlines": 5,
    "/fapi/v1/premiumIndexKlines": 5,
    "/fapi/v1/continuousKlines": 5,
    "/fapi/v1/ticker/bookTicker": 2,
    "/fapi/v1/aggTrades": 20,
    "/fapi/v1/trades": 5,
    "/fapi/v1/historicalTrades": 20,
    "/fapi/v1/income": 30,
    "/fapi/v1/forceOrders": 20,
    "/fapi/v1/commissionRate": 20,
    "/fapi/v1/accountConfig": 5,
    "/fapi/v1/adlQuantile": 5,
    "/fapi/v1/batchOrders": 5,
}
NO_SYMBOL_WEIGHTS: dict[str, int] = {
    "/fapi/v1/openOrders": 40,
    "/fapi/v1/openAlgoOrders": 40,
    "/fapi/v1/premiumIndex": 10,
    "/fapi/v1/ticker/price": 2,
    "/fapi/v2/ticker/price": 2,
    "/fapi/v1/ticker/24hr": 40,
    "/fapi/v1/ticker/bookTicker": 5,
    "/fapi/v1/forceOrders": 50,
}
# Order-book weight by the depth asked for (the default is 500 levels).
DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))


def weight_of(path: str, params: Mapping[str, str]) -> int:
    if path in ("/fapi/v1/depth", "/fapi/v1/rpiDepth"):
        raw = params.get("limit", "500")
        levels = int(raw) if raw.isdigit() else 500
        return next((w for most, w in DEPTH_WEIGHTS if levels <= most), DEPTH_WEIGHTS[-1][1])
    if "symbol" not in params and path in NO_SYMBOL_WEIGHTS:
        return NO_SYMBOL_WEIGHTS[path]
    return WEIGHTS.get(path, 1)
