"""Is this account one the system can trade safely? A pure check of the startup
self-check and the account's open orders, before anything trades.

The system trades one-way positions on cross margin: in hedge (dual-side) mode Binance
rejects orders without ``positionSide``, so protective stops would fail; an isolated
symbol's liquidation price is not the one the risk guard computes. Open orders the
system did not place (their client ids are not ours) on a traded symbol could open or
grow a position behind its back: they are listed, and cancelled only when the operator
asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quantum_trader.domain.order_ids import is_ours
from quantum_trader.domain.orders import Order


def foreign_orders(orders: Sequence[Order], symbols: Sequence[str]) -> list[Order]:
    """Open orders on ``symbols`` whose client order id is not one this system derives."""
    traded = set(symbols)
    return [o for o in orders if o.symbol in traded and not is_ours(o.client_order_id)]


def account_problems(check: Mapping[str, Any], foreign: Sequence[Order]) -> list[str]:
    """What makes the account unsafe to trade, one line each (empty: trade)."""
    problems: list[str] = []
    if check.get("position_mode") != "one-way":
        problems.append(
            f"position mode is {check.get('position_mode')!r}: switch the account to one-way "
            "(Binance: Preferences > Position Mode)"
        )
    margins = [m for m in check.get("margin_modes", []) if m not in ("CROSSED", "CROSS")]
    if margins:
        problems.append(
            f"margin mode {'/'.join(margins)} on some symbols: set them to cross margin"
        )
    if check.get("multi_assets_margin"):
        problems.append("multi-assets margin is on: switch it off (single-asset USDT margin)")
    if foreign:
        listed = ", ".join(
            f"{o.symbol} {o.side.value} {o.type.value} {o.client_order_id}" for o in foreign
        )
        problems.append(
            f"{len(foreign)} open order(s) this system did not place: {listed}; cancel them, "
            "or run with --cancel-foreign-orders"
        )
    return problems
