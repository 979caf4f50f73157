"""The account the system refuses to trade: hedge mode, isolated or multi-asset margin,
and open orders it did not place on the symbols it trades."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.decide.account_check import account_problems, foreign_orders
from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import Order

SAFE = {"position_mode": "one-way", "margin_modes": ["CROSSED"], "multi_assets_margin": False}


def order(symbol: str, cid: str) -> Order:
    return Order(
        symbol, Side.SELL, OrderType.STOP_MARKET, OrderStatus.NEW, cid, "1", Decimal(1),
        Decimal(0), Decimal(0), None, Decimal(90), True, False, WorkingType.MARK_PRICE,
        TimeInForce.GTC, 0, 0,
    )  # fmt: skip


def test_a_one_way_cross_account_with_only_our_orders_is_safe() -> None:
    ours = [order("BTCUSDT", client_order_id("s", "BTCUSDT", 1))]
    assert foreign_orders(ours, ["BTCUSDT"]) == []
    assert account_problems(SAFE, []) == []


def test_hedge_mode_isolated_margin_multi_assets_and_foreign_orders_are_each_named() -> None:
    orders = [order("BTCUSDT", "web_123"), order("ETHUSDT", "android_x"), order("XRPUSDT", "x")]
    foreign = foreign_orders(orders, ["BTCUSDT", "ETHUSDT"])
    assert [o.client_order_id for o in foreign] == ["web_123", "android_x"]
    hostile = {"position_mode": "hedge", "margin_modes": ["CROSSED", "ISOLATED"]}
    problems = account_problems({**hostile, "multi_assets_margin": True}, foreign)
    assert len(problems) == 4
    assert "one-way" in problems[0] and "ISOLATED" in problems[1] and "multi-assets" in problems[2]
    assert "web_123" in problems[3] and "--cancel-foreign-orders" in problems[3]
