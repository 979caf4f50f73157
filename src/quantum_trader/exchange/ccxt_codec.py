"""Binance USDⓈ-M wire JSON → domain objects, and ccxt exceptions → our three outcomes.

The adapter reads Binance's raw bodies (ccxt's ``info``) rather than ccxt's unified
structures, because those are floats; every price and quantity here goes straight from
the exchange's decimal string to ``Decimal``. Integer fields are accepted as JSON
numbers or strings (recorded fixtures use both).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt

from quantum_trader.domain.enums import (
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from quantum_trader.domain.instruments import Instrument, LeverageBracket
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import AccountState, Fill, Order, PositionState
from quantum_trader.exchange.interface import (
    ExchangeError,
    FundingRate,
    MarkPrice,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RetryableError,
)

Raw = Mapping[str, Any]
ALGO_STATUS = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.PARTIALLY_FILLED,
    "FINISHED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
_BODY = re.compile(r"\{.*\}", re.DOTALL)
# Binance codes that mean "the request was processed or may have been: status unknown".
UNKNOWN_CODES = {-1000, -1001, -1006, -1007}
RATE_CODES = {-1003, -1015}


def d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def opt(value: Any) -> Decimal | None:
    v = d(value)
    return v if v else None


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def order_from_json(raw: Raw, type_override: str | None = None) -> Order:
    """A /fapi/v1/order body (create, query, cancel, openOrders entry)."""
    kind = type_override or raw.get("origType") or raw["type"]
    return Order(
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        type=OrderType(kind),
        status=OrderStatus(raw["status"]),
        client_order_id=raw["clientOrderId"],
        exchange_order_id=str(raw["orderId"]),
        quantity=d(raw.get("origQty")),
        executed_qty=d(raw.get("executedQty")),
        avg_price=d(raw.get("avgPrice")),
        price=opt(raw.get("price")),
        stop_price=opt(raw.get("stopPrice")),
        reduce_only=truthy(raw.get("reduceOnly")),
        close_position=truthy(raw.get("closePosition")),
        working_type=WorkingType(raw.get("workingType", "CONTRACT_PRICE")),
        time_in_force=TimeInForce(raw.get("timeInForce", "GTC")),
        created_at=int(raw.get("time") or raw.get("updateTime") or 0),
        updated_at=int(raw.get("updateTime") or 0),
    )


def algo_from_json(raw: Raw) -> Order:
    """A /fapi/v1/algoOrder body: a conditional order not (fully) executed yet."""
    return Order(
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        type=OrderType(raw["orderType"]),
        status=ALGO_STATUS.get(str(raw["algoStatus"]), OrderStatus.NEW),
        client_order_id=raw["clientAlgoId"],
        exchange_order_id=str(raw["algoId"]),
        quantity=d(raw.get("quantity")),
        executed_qty=ZERO,
        avg_price=d(raw.get("actualPrice")),
        price=opt(raw.get("price")),
        stop_price=opt(raw.get("triggerPrice")),
        reduce_only=truthy(raw.get("reduceOnly")),
        close_position=truthy(raw.get("closePosition")),
        working_type=WorkingType(raw.get("workingType", "CONTRACT_PRICE")),
        time_in_force=TimeInForce(raw.get("timeInForce", "GTC")),
        created_at=int(raw.get("createTime") or 0),
        updated_at=int(raw.get("updateTime") or 0),
    )


def order_from_event(o: Raw, ts: int) -> Order:
    """The ``o`` object of an ORDER_TRADE_UPDATE."""
    return Order(
        symbol=o["s"],
        side=Side(o["S"]),
        type=OrderType(o.get("ot") or o["o"]),
        status=OrderStatus(o["X"]),
        client_order_id=o["c"],
        exchange_order_id=str(o["i"]),
        quantity=d(o.get("q")),
        executed_qty=d(o.get("z")),
        avg_price=d(o.get("ap")),
        price=opt(o.get("p")),
        stop_price=opt(o.get("sp")),
        reduce_only=truthy(o.get("R")),
        close_position=truthy(o.get("cp")),
        working_type=WorkingType(o.get("wt", "CONTRACT_PRICE")),
        time_in_force=TimeInForce(o.get("f", "GTC")),
        created_at=ts,
        updated_at=ts,
    )


def algo_from_event(o: Raw, ts: int) -> Order:
    """The ``o`` object of an ALGO_UPDATE."""
    return Order(
        symbol=o["s"],
        side=Side(o["S"]),
        type=OrderType(o["o"]),
        status=ALGO_STATUS.get(str(o["X"]), OrderStatus.NEW),
        client_order_id=o["caid"],
        exchange_order_id=str(o["aid"]),
        quantity=d(o.get("q")),
        executed_qty=d(o.get("aq")),
        avg_price=d(o.get("ap")),
        price=opt(o.get("p")),
        stop_price=opt(o.get("tp")),
        reduce_only=truthy(o.get("R")),
        close_position=truthy(o.get("cp")),
        working_type=WorkingType(o.get("wt", "CONTRACT_PRICE")),
        time_in_force=TimeInForce(o.get("f", "GTC")),
        created_at=ts,
        updated_at=ts,
    )


def fill_from_event(o: Raw, ts: int) -> Fill:
    return Fill(
        symbol=o["s"],
        trade_id=str(o["t"]),
        exchange_order_id=str(o["i"]),
        client_order_id=o["c"],
        side=Side(o["S"]),
        price=d(o["L"]),
        qty=d(o["l"]),
        commission=d(o.get("n")),
        commission_asset=o.get("N") or "USDT",
        realized_pnl=d(o.get("rp")),
        maker=truthy(o.get("m")),
        reduce_only=truthy(o.get("R")) or truthy(o.get("cp")),
        ts=ts,
    )


def fill_from_trade(raw: Raw, client_order_id: str, reduce_only: bool) -> Fill:
    """A /fapi/v1/userTrades entry; the client id and reduce-only flag come from its order."""
    return Fill(
        symbol=raw["symbol"],
        trade_id=str(raw["id"]),
        exchange_order_id=str(raw["orderId"]),
        client_order_id=client_order_id,
        side=Side(raw["side"]),
        price=d(raw["price"]),
        qty=d(raw["qty"]),
        commission=d(raw.get("commission")),
        commission_asset=raw.get("commissionAsset") or "USDT",
        realized_pnl=d(raw.get("realizedPnl")),
        maker=truthy(raw.get("maker")),
        reduce_only=reduce_only,
        ts=int(raw["time"]),
    )


def position_from_json(raw: Raw, leverage: int) -> PositionState | None:
    amount = d(raw.get("positionAmt"))
    if not amount:
        return None
    return PositionState(
        symbol=raw["symbol"],
        side=PositionSide.LONG if amount > 0 else PositionSide.SHORT,
        qty=abs(amount),
        entry_price=d(raw.get("entryPrice")),
        mark_price=d(raw.get("markPrice")),
        unrealized_pnl=d(raw.get("unRealizedProfit")),
        leverage=int(raw.get("leverage") or leverage),
        liquidation_price=d(raw.get("liquidationPrice")),
        updated_at=int(raw.get("updateTime") or 0),
    )


def account_from_json(raw: Raw, positions: tuple[PositionState, ...]) -> AccountState:
    return AccountState(
        wallet_balance=d(raw.get("totalWalletBalance")),
        unrealized_pnl=d(raw.get("totalUnrealizedProfit")),
        margin_balance=d(raw.get("totalMarginBalance")),
        initial_margin=d(raw.get("totalInitialMargin")),
        maint_margin=d(raw.get("totalMaintMargin")),
        available_balance=d(raw.get("availableBalance")),
        positions=positions,
        updated_at=max([int(raw.get("updateTime") or 0), *(p.updated_at for p in positions)]),
    )


def account_from_event(a: Raw, ts: int, leverage: Mapping[str, int]) -> AccountState:
    """ACCOUNT_UPDATE carries the wallet and changed positions only, not the margins.

    Margins Binance does not send are left at zero; ``account()`` has the full picture.
    """
    wallet = next((d(b.get("wb")) for b in a.get("B", []) if b.get("a") == "USDT"), ZERO)
    positions = []
    for p in a.get("P", []):
        amount, upnl, entry = d(p.get("pa")), d(p.get("up")), d(p.get("ep"))
        if not amount:
            continue
        positions.append(
            PositionState(
                symbol=p["s"],
                side=PositionSide.LONG if amount > 0 else PositionSide.SHORT,
                qty=abs(amount),
                entry_price=entry,
                mark_price=entry + upnl / amount,
                unrealized_pnl=upnl,
                leverage=leverage.get(p["s"], 0),
                liquidation_price=ZERO,
                updated_at=ts,
            )
        )
    upnl_total = sum((p.unrealized_pnl for p in positions), ZERO)
    return AccountState(
        wallet_balance=wallet,
        unrealized_pnl=upnl_total,
        margin_balance=wallet + upnl_total,
        initial_margin=ZERO,
        maint_margin=ZERO,
        available_balance=ZERO,
        positions=tuple(positions),
        updated_at=ts,
    )


def kline_from_row(symbol: str, interval: str, row: list[Any]) -> Kline:
    return Kline(
        symbol, interval, int(row[0]), d(row[1]), d(row[2]), d(row[3]), d(row[4]), d(row[5]),
        int(row[6]),
    )  # fmt: skip


def funding_from_json(raw: Raw) -> FundingRate:
    return FundingRate(raw["symbol"], int(raw["fundingTime"]), d(raw["fundingRate"]))


def mark_from_json(raw: Raw) -> MarkPrice:
    return MarkPrice(
        symbol=raw["symbol"],
        mark_price=d(raw.get("markPrice")),
        index_price=d(raw.get("indexPrice")),
        funding_rate=d(raw.get("lastFundingRate")),
        next_funding_time=int(raw.get("nextFundingTime") or 0),
        ts=int(raw.get("time") or 0),
    )


def instrument_from_json(info: Raw, brackets: list[Raw]) -> Instrument:
    """An exchangeInfo ``symbols[]`` entry plus its leverageBracket tiers."""
    filters = {f["filterType"]: f for f in info["filters"]}
    price, lot, market = filters["PRICE_FILTER"], filters["LOT_SIZE"], filters["MARKET_LOT_SIZE"]
    tiers = tuple(
        LeverageBracket(
            bracket=int(b["bracket"]),
            max_leverage=int(b["initialLeverage"]),
            notional_floor=d(b["notionalFloor"]),
            notional_cap=d(b["notionalCap"]),
            maint_margin_ratio=d(b["maintMarginRatio"]),
            cum=d(b["cum"]),
        )
        for b in brackets
    )
    return Instrument(
        symbol=info["symbol"],
        base_asset=info["baseAsset"],
        quote_asset=info["quoteAsset"],
        tick_size=d(price["tickSize"]),
        min_price=d(price["minPrice"]),
        max_price=d(price["maxPrice"]),
        step_size=d(lot["stepSize"]),
        min_qty=d(lot["minQty"]),
        max_qty=d(lot["maxQty"]),
        market_step_size=d(market["stepSize"]),
        market_min_qty=d(market["minQty"]),
        market_max_qty=d(market["maxQty"]),
        min_notional=d(filters.get("MIN_NOTIONAL", {}).get("notional", "0")),
        brackets=tiers,
        price_precision=int(info["pricePrecision"]),
        quantity_precision=int(info["quantityPrecision"]),
    )


# -- errors ------------------------------------------------------------------------------


def binance_code(exc: BaseException) -> tuple[int, str] | None:
    """``(code, msg)`` from the Binance JSON body ccxt puts into its exception text."""
    match = _BODY.search(str(exc))
    if match is None:
        return None
    try:
        body = json.loads(match.group(0))
        return int(body["code"]), str(body.get("msg", ""))
    except (ValueError, KeyError, TypeError):
        return None


def retry_after_s(headers: Mapping[str, str] | None, default: float = 1.0) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except ValueError:
                return default
    return default


def map_error(
    exc: Exception,
    *,
    write: bool,
    client_order_id: str = "",
    headers: Mapping[str, str] | None = None,
) -> ExchangeError:
    """The one outcome a ccxt exception means (DESIGN.md §3).

    ``write`` marks order placement / cancellation: there a timeout, a 5xx or an
    "execution status unknown" code means the order's fate is unknown; for a read the
    same failures are simply retryable.
    """
    if isinstance(exc, ExchangeError):
        return exc
    parsed = binance_code(exc)
    if parsed is not None:
        code, msg = parsed
        if code in RATE_CODES:
            return RetryableError(f"{code}: {msg}", retry_after_s(headers))
        if code == -2013:
            return OrderNotFound(f"{code}: {msg}")
        if code in UNKNOWN_CODES:
            if write:
                return OrderOutcomeUnknown(client_order_id, f"{code}: {msg}")
            return RetryableError(f"{code}: {msg}", retry_after_s(headers))
        return OrderRejected(code, msg)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RetryableError(str(exc), retry_after_s(headers))
    sent = not isinstance(exc.__cause__, aiohttp.ClientConnectorError)
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse | ccxt.NullResponse):
        if write and sent:
            return OrderOutcomeUnknown(client_order_id, f"{type(exc).__name__}: {exc}")
        return RetryableError(f"{type(exc).__name__}: {exc}", retry_after_s(headers))
    # Refused before or without an exchange code (ccxt's own argument checks, auth setup).
    return OrderRejected(0, f"{type(exc).__name__}: {exc}")
