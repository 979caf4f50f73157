"""Binance USDⓈ-M compatible HTTP/WebSocket front for the simulated exchange.

``SimHttpServer(exchange, port=0).start()`` serves the REST subset ccxt's
``binanceusdm`` uses, the user-data and market WebSocket streams, Binance's security
(key, HMAC signature, recvWindow, request weight), named fault profiles and
loopback-only admin endpoints. ``quantum sim-exchange serve`` runs it from the shell.
"""

from quantum_trader.exchange.sim.http.faults import PROFILES, HttpFaultProfile, profile_named
from quantum_trader.exchange.sim.http.security import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_WEIGHT_LIMIT,
    Credentials,
)
from quantum_trader.exchange.sim.http.server import SimHttpServer

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_WEIGHT_LIMIT",
    "PROFILES",
    "Credentials",
    "HttpFaultProfile",
    "SimHttpServer",
    "profile_named",
]
