"""The exchange as ``/metrics`` sees it: the account (equity, margin, exposure), every
position and whether an exchange-side stop protects all of it, and the request weight
the exchange says this IP has used in the current minute.

The exchange is read at most every ``refresh_s`` (its request weight is the trading
services' budget too): the account and positions, then the open orders of the symbols
that hold a position. A position without a covering reduce-only stop is unprotected
from the first reading that saw it so until the first that does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from quantum_trader.decide.reconcile import is_protective_stop
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.domain.orders import Order, PositionState
from quantum_trader.exchange.interface import Exchange
from quantum_trader.observability.families import gauge

log = logging.getLogger(__name__)
WEIGHT_HEADER = "x-mbx-used-weight-1m"


def protected(position: PositionState, orders: Sequence[Order]) -> bool:
    """An exchange-side stop covers the whole position (the reconciler's rule)."""
    return any(
        o.symbol == position.symbol
        and is_protective_stop(o, position.side)
        and (o.close_position or o.quantity >= position.qty)
        for o in orders
    )


def used_weight(exchange: Exchange) -> int | None:
    """The weight the exchange's last answer said this IP used this minute (ccxt keeps
    the last response's headers)."""
    headers = getattr(getattr(exchange, "ccxt_client", None), "last_response_headers", None)
    for name, value in dict(headers or {}).items():
        if str(name).lower() == WEIGHT_HEADER:
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def weight_limit(exchange: Exchange) -> int | None:
    """The REQUEST_WEIGHT limit per minute the exchange announces in ``exchangeInfo``."""
    client = getattr(exchange, "ccxt_client", None)
    if client is None:
        return None
    try:
        info: dict[str, Any] = await client.fapiPublicGetExchangeInfo()
    except Exception:  # an exchange that will not say: the limit stays unknown
        return None
    for limit in info.get("rateLimits", []):
        if limit.get("rateLimitType") == "REQUEST_WEIGHT" and limit.get("interval") == "MINUTE":
            return int(limit["limit"]) // max(1, int(limit.get("intervalNum", 1)))
    return None


@dataclass
class ExchangeView:
    exchange: Exchange
    limits: RiskConfig = field(default_factory=RiskConfig)
    refresh_s: float = 5.0
    timer: Callable[[], float] = time.monotonic  # wall seconds: ages are real time
    up: bool = False
    positions: list[PositionState] = field(default_factory=list)
    margin_balance: Decimal | None = None
    initial_margin: Decimal = Decimal(0)
    unprotected_since: dict[str, float] = field(default_factory=dict)
    weight_used: int | None = None
    weight_limit: int | None = None
    read_at: float | None = None  # the last complete reading
    started_at: float = 0.0
    _tried_at: float = float("-inf")
    _limit_asked: bool = False
    _failed: bool = False

    def __post_init__(self) -> None:
        self.started_at = self.timer()

    async def refresh(self) -> None:
        now = self.timer()
        if now - self._tried_at < self.refresh_s:
            return
        self._tried_at = now
        if not self._limit_asked:
            self._limit_asked = True
            self.weight_limit = await weight_limit(self.exchange)
        try:
            account = await self.exchange.account()
            positions = [p for p in account.positions if p.qty > 0]
            orders: list[Order] = []
            for symbol in sorted({p.symbol for p in positions}):
                orders += await self.exchange.open_orders(symbol)
        except Exception as exc:  # the exchange unreachable or refusing: say so, go on
            if self.up or (self.read_at is None and not self._failed):
                log.warning("exchange read failed: %s: %s", type(exc).__name__, exc)
            self.up, self._failed = False, True
            return
        self.up, self.read_at = True, now
        self.positions = positions
        self.margin_balance, self.initial_margin = account.margin_balance, account.initial_margin
        self.weight_used = used_weight(self.exchange)
        held = {p.symbol for p in positions}
        self.unprotected_since = {s: t for s, t in self.unprotected_since.items() if s in held}
        for p in positions:
            if protected(p, orders):
                self.unprotected_since.pop(p.symbol, None)
            else:
                self.unprotected_since.setdefault(p.symbol, now)

    @property
    def gross_exposure(self) -> Decimal:
        return sum((p.qty * p.mark_price for p in self.positions), Decimal(0))

    def families(self) -> Iterator[Metric]:
        now = self.timer()
        yield gauge("quantum_exchange_up", "1: the exchange's last reading succeeded", self.up)
        yield gauge(
            "quantum_equity_age_seconds",
            "Seconds since the account (equity) was last read from the exchange",
            now - (self.read_at if self.read_at is not None else self.started_at),
        )
        if self.weight_used is not None:
            yield gauge(
                "quantum_exchange_request_weight_used",
                "Request weight this IP used in the current minute (the exchange's count)",
                self.weight_used,
            )
        if self.weight_limit is not None:
            yield gauge(
                "quantum_exchange_request_weight_limit",
                "Request weight the exchange allows per minute",
                self.weight_limit,
            )
        if self.read_at is None:
            return
        yield gauge("quantum_open_positions", "Open positions on the exchange", len(self.positions))
        yield from self._money()
        unprotected = GaugeMetricFamily(
            "quantum_position_unprotected_seconds",
            "Seconds an open position has had no exchange-side stop covering all of it",
            labels=["symbol"],
        )
        for p in sorted(self.positions, key=lambda p: p.symbol):
            since = self.unprotected_since.get(p.symbol)
            unprotected.add_metric([p.symbol], now - since if since is not None else 0.0)
        yield unprotected
        yield gauge(
            "quantum_positions_unprotected",
            "Open positions without an exchange-side stop covering all of them",
            len(self.unprotected_since),
        )

    def _money(self) -> Iterator[Metric]:
        equity = self.margin_balance or Decimal(0)
        gross = self.gross_exposure
        yield gauge("quantum_equity_usdt", "Margin balance (equity) on the exchange", float(equity))
        yield gauge("quantum_gross_exposure_usdt", "Σ qty × mark of open positions", float(gross))
        if equity > 0:
            yield gauge(
                "quantum_gross_exposure_ratio", "Gross exposure ÷ equity", float(gross / equity)
            )
            yield gauge(
                "quantum_margin_utilisation_ratio",
                "Initial margin ÷ margin balance",
                float(self.initial_margin / equity),
            )
        yield from limit_families(self.limits)


def limit_families(limits: RiskConfig) -> Iterator[Metric]:
    """The risk guard's limits, beside the measures they cap."""
    yield gauge(
        "quantum_gross_exposure_limit_ratio",
        "The risk guard's cap on gross exposure ÷ equity",
        float(limits.max_gross_exposure_ratio),
    )
    yield gauge(
        "quantum_margin_utilisation_limit_ratio",
        "The risk guard's cap on initial margin ÷ margin balance",
        float(limits.max_margin_utilisation),
    )
    yield gauge(
        "quantum_open_positions_limit",
        "The risk guard's cap on open positions",
        limits.max_open_positions,
    )
