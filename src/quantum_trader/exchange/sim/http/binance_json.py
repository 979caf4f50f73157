"""Domain objects rendered the way Binance USDⓈ-M renders them on the wire.

Prices and quantities are JSON strings, ids and times are JSON numbers (as the live API
sends them). Money values keep their full exact precision instead of Binance's fixed
decimals, so a client that parses them as Decimal gets the simulator's exact books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quantum_trader.domain.enums import OrderStatus
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO, fmt
from quantum_trader.domain.orders import AccountState, Fill, Order, PositionState
from quantum_trader.exchange.interface import FundingRate, MarkPrice

JSON = dict[str, Any]
# The order types the matching core executes (stop-limit and trailing orders it does not).
ORDER_TYPES = ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"]
TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX", "GTD"]
# Binance's algo-order statuses for a conditional order, from the core's order status.
ALGO_STATUS = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "TRIGGERED",
    OrderStatus.FILLED: "FINISHED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}


def s(value: Decimal | None) -> str:
    return fmt(value) if value is not None else "0"


def triggered(order: Order) -> bool:
    """A conditional order that has executed: it now also exists as a regular order."""
    return order.type.is_conditional and order.executed_qty > ZERO


def order_json(order: Order) -> JSON:
    """/fapi/v1/order (RESULT response type), openOrders, allOrders entry."""
    return {
        "orderId": int(order.exchange_order_id),
        "symbol": order.symbol,
        "status": order.status.value,
        "clientOrderId": order.client_order_id,
        "price": s(order.price),
        "avgPrice": s(order.avg_price),
        "origQty": s(order.quantity),
        "executedQty": s(order.executed_qty),
        "cumQty": s(order.executed_qty),
        "cumQuote": s(order.avg_price * order.executed_qty),
        "timeInForce": order.time_in_force.value,
        "type": order.type.value,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side.value,
        "positionSide": "BOTH",
        "stopPrice": s(order.stop_price),
        "workingType": order.working_type.value,
        "priceProtect": False,
        "origType": order.type.value,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": order.created_at,
        "updateTime": order.updated_at,
    }


def algo_json(order: Order) -> JSON:
    """/fapi/v1/algoOrder entry for a conditional (STOP_MARKET / TAKE_PROFIT_MARKET) order."""
    return {
        "algoId": int(order.exchange_order_id),
        "clientAlgoId": order.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": order.type.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "positionSide": "BOTH",
        "timeInForce": order.time_in_force.value,
        "quantity": s(order.quantity),
        "algoStatus": ALGO_STATUS[order.status],
        "actualOrderId": order.exchange_order_id if triggered(order) else "",
        "actualPrice": s(order.avg_price),
        "triggerPrice": s(order.stop_price),
        "price": s(order.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": order.working_type.value,
        "priceMatch": "NONE",
        "closePosition": order.close_position,
        "priceProtect": False,
        "reduceOnly": order.reduce_only,
        "createTime": order.created_at,
        "updateTime": order.updated_at,
        "triggerTime": order.updated_at if triggered(order) else 0,
        "goodTillDate": 0,
    }


def trade_json(fill: Fill) -> JSON:
    """/fapi/v1/userTrades entry."""
    return {
        "symbol": fill.symbol,
        "id": int(fill.trade_id),
        "orderId": int(fill.exchange_order_id),
        "side": fill.side.value,
        "price": s(fill.price),
        "qty": s(fill.qty),
        "realizedPnl": s(fill.realized_pnl),
        "quoteQty": s(fill.price * fill.qty),
        "commission": s(fill.commission),
        "commissionAsset": fill.commission_asset,
        "marginAsset": "USDT",
        "time": fill.ts,
        "positionSide": "BOTH",
        "buyer": fill.side.value == "BUY",
        "maker": fill.maker,
    }


def position_json(p: PositionState, instrument: Instrument, margin_type: str = "cross") -> JSON:
    """/fapi/v3/positionRisk entry (v2 adds leverage / marginType / maxNotionalValue)."""
    signed = p.signed_qty
    notional = signed * p.mark_price
    return {
        "symbol": p.symbol,
        "positionSide": "BOTH",
        "positionAmt": s(signed),
        "entryPrice": s(p.entry_price),
        "breakEvenPrice": s(p.entry_price),
        "markPrice": s(p.mark_price),
        "unRealizedProfit": s(p.unrealized_pnl),
        "liquidationPrice": s(p.liquidation_price),
        "isolatedMargin": "0",
        "notional": s(notional),
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": s(abs(notional) / p.leverage),
        "maintMargin": s(instrument.maintenance_margin(notional)),
        "positionInitialMargin": s(abs(notional) / p.leverage),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": p.updated_at,
        "leverage": str(p.leverage),
        "marginType": margin_type,
        "maxNotionalValue": s(instrument.max_notional_at(p.leverage)),
        "isAutoAddMargin": "false",
    }


def account_position_json(row: JSON) -> JSON:
    """A ``positions[]`` entry of /fapi/v3/account (with v2's extra fields) from the
    positionRisk entry of the same position."""
    return {
        "symbol": row["symbol"],
        "positionSide": row["positionSide"],
        "positionAmt": row["positionAmt"],
        "unrealizedProfit": row["unRealizedProfit"],
        "isolatedMargin": row["isolatedMargin"],
        "notional": row["notional"],
        "isolatedWallet": row["isolatedWallet"],
        "initialMargin": row["initialMargin"],
        "maintMargin": row["maintMargin"],
        "positionInitialMargin": row["positionInitialMargin"],
        "openOrderInitialMargin": row["openOrderInitialMargin"],
        "leverage": row["leverage"],
        "isolated": row["marginType"] == "isolated",
        "entryPrice": row["entryPrice"],
        "breakEvenPrice": row["breakEvenPrice"],
        "maxNotional": row["maxNotionalValue"],
        "bidNotional": row["bidNotional"],
        "askNotional": row["askNotional"],
        "updateTime": row["updateTime"],
    }


def asset_json(a: AccountState) -> JSON:
    return {
        "asset": "USDT",
        "walletBalance": s(a.wallet_balance),
        "unrealizedProfit": s(a.unrealized_pnl),
        "marginBalance": s(a.margin_balance),
        "maintMargin": s(a.maint_margin),
        "initialMargin": s(a.initial_margin),
        "positionInitialMargin": s(a.initial_margin),
        "openOrderInitialMargin": "0",
        "crossWalletBalance": s(a.wallet_balance),
        "crossUnPnl": s(a.unrealized_pnl),
        "availableBalance": s(a.available_balance),
        "maxWithdrawAmount": s(max(ZERO, a.available_balance)),
        "marginAvailable": True,
        "updateTime": a.updated_at,
    }


def account_json(a: AccountState, positions: list[JSON]) -> JSON:
    """/fapi/v3/account (and v2) body: totals, the USDT asset, open positions."""
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        "updateTime": 0,
        "totalInitialMargin": s(a.initial_margin),
        "totalMaintMargin": s(a.maint_margin),
        "totalWalletBalance": s(a.wallet_balance),
        "totalUnrealizedProfit": s(a.unrealized_pnl),
        "totalMarginBalance": s(a.margin_balance),
        "totalPositionInitialMargin": s(a.initial_margin),
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": s(a.wallet_balance),
        "totalCrossUnPnl": s(a.unrealized_pnl),
        "availableBalance": s(a.available_balance),
        "maxWithdrawAmount": s(max(ZERO, a.available_balance)),
        "assets": [asset_json(a)],
        "positions": positions,
    }


def balance_json(a: AccountState) -> list[JSON]:
    """/fapi/v2/balance (and v3)."""
    return [
        {
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": s(a.wallet_balance),
            "crossWalletBalance": s(a.wallet_balance),
            "crossUnPnl": s(a.unrealized_pnl),
            "availableBalance": s(a.available_balance),
            "maxWithdrawAmount": s(max(ZERO, a.available_balance)),
            "marginAvailable": True,
            "updateTime": a.updated_at,
        }
    ]


def kline_row(k: Kline) -> list[Any]:
    return [
        k.open_time,
        s(k.open),
        s(k.high),
        s(k.low),
        s(k.close),
        s(k.volume),
        k.close_time,
        s(k.volume * k.close),
        0,
        "0",
        "0",
        "0",
    ]


def funding_rate_json(rate: FundingRate, mark: Decimal | None) -> JSON:
    """/fapi/v1/fundingRate row; ``markPrice`` is empty where the mark is not known (as
    Binance's older rows are)."""
    return {
        "symbol": rate.symbol,
        "fundingTime": rate.funding_time,
        "fundingRate": f"{rate.rate:.8f}",
        "markPrice": f"{mark:.8f}" if mark is not None else "",
    }


def premium_index_json(m: MarkPrice) -> JSON:
    return {
        "symbol": m.symbol,
        "markPrice": s(m.mark_price),
        "indexPrice": s(m.index_price),
        "estimatedSettlePrice": s(m.mark_price),
        "lastFundingRate": s(m.funding_rate),
        "interestRate": "0.00010000",
        "nextFundingTime": m.next_funding_time,
        "time": m.ts,
    }


def symbol_json(i: Instrument) -> JSON:
    """One /fapi/v1/exchangeInfo ``symbols[]`` entry."""
    return {
        "symbol": i.symbol,
        "pair": i.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": i.base_asset,
        "quoteAsset": i.quote_asset,
        "marginAsset": i.quote_asset,
        "pricePrecision": i.price_precision,
        "quantityPrecision": i.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "tickSize": s(i.tick_size),
                "minPrice": s(i.min_price),
                "maxPrice": s(i.max_price),
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": s(i.step_size),
                "minQty": s(i.min_qty),
                "maxQty": s(i.max_qty),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": s(i.market_step_size),
                "minQty": s(i.market_min_qty),
                "maxQty": s(i.market_max_qty),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": s(i.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": ORDER_TYPES,
        "timeInForce": TIME_IN_FORCE,
    }


def exchange_info_json(instruments: list[Instrument], server_time: int, weight: int) -> JSON:
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [symbol_json(i) for i in instruments],
    }


def brackets_json(i: Instrument) -> JSON:
    return {
        "symbol": i.symbol,
        "brackets": [
            {
                "bracket": b.bracket,
                "initialLeverage": b.max_leverage,
                "notionalCap": int(b.notional_cap),
                "notionalFloor": int(b.notional_floor),
                "maintMarginRatio": float(b.maint_margin_ratio),
                "cum": float(b.cum),
            }
            for b in i.brackets
        ],
    }
