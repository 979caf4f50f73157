"""Building the ccxt ``binanceusdm`` client for a mode, and reading API keys.

Kept apart from the adapter so that the one place which knows URLs, options and where
keys come from is small enough to audit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import ccxt.async_support as ccxt

Mode = Literal["sim", "demo", "live"]
KEY_ENV, SECRET_ENV = "QUANTUM_BINANCE_API_KEY", "QUANTUM_BINANCE_API_SECRET"
SIM_KEY, SIM_SECRET = "quantum-sim-key", "quantum-sim-secret"
WS_BASE = {"demo": "wss://fstream.binancefuture.com/ws", "live": "wss://fstream.binance.com/ws"}


class _ExactBinanceUsdm(ccxt.binanceusdm):  # type: ignore[misc]
    """binanceusdm that sends our decimal strings as they are (no float, no truncation)."""

    def amount_to_precision(self, symbol: str, amount: Any) -> str:
        return str(amount)

    def price_to_precision(self, symbol: str, price: Any) -> str:
        return str(price)


def load_credentials(secret_file: Path | None = None) -> tuple[str, str] | None:
    """(key, secret) from a JSON / two-line secret file, else None. Keys from the
    environment come through the settings (``QUANTUM_BINANCE_API_KEY`` / ``_SECRET``):
    nothing here reads the environment."""
    if secret_file is not None:
        text = secret_file.read_text(encoding="utf-8").strip()
        if text.startswith("{"):
            data = json.loads(text)
            return str(data["api_key"]), str(data["api_secret"])
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) == 2:
            return lines[0], lines[1]
        raise ValueError(f"{secret_file}: expected JSON or two lines (key, secret)")
    return None


def build_client(
    mode: Mode,
    creds: tuple[str, str],
    base_url: str,
    ws_url: str | None,
    recv_window_ms: int,
    timeout_ms: int,
    rate_limit: bool | None,
) -> tuple[Any, str, str]:
    """(client, REST endpoint, user-data WebSocket base) for ``mode``.

    ccxt's currency and spot loading is switched off (``fetchMarkets: linear``,
    ``fetchCurrencies: False``) so that no sapi / spot endpoint is ever called.
    """
    client = _ExactBinanceUsdm(
        {
            "apiKey": creds[0],
            "secret": creds[1],
            "enableRateLimit": mode != "sim" if rate_limit is None else rate_limit,
            "timeout": timeout_ms,
            "options": {
                "fetchMarkets": ["linear"],
                "fetchCurrencies": False,
                "recvWindow": recv_window_ms,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                "adjustForTimeDifference": False,
            },
        }
    )
    if mode == "demo":
        client.enable_demo_trading(True)
    if mode == "sim":
        base = base_url.rstrip("/")
        for name, url in list(client.urls["api"].items()):
            if name.startswith("fapi") and isinstance(url, str):
                tail = "/futures/data" if name == "fapiData" else "/fapi/" + url.rsplit("/", 1)[1]
                client.urls["api"][name] = base + tail
        endpoint = base
        client.timeout_on_exit = 0  # plain loopback HTTP: no TLS shutdown to wait for
        ws_base = ws_url or base.replace("http", "ws", 1) + "/ws"
    else:
        endpoint = client.urls["api"]["fapiPrivate"]
        ws_base = ws_url or WS_BASE[mode]
    return client, endpoint, ws_base
