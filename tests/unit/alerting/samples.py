"""The system's messages a notifier sees, as the services write them: an entry fill, an
exit fill, a risk-mode change, a breaker trip and reset, a critical and an info event."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.bus.schemas import Event, FillEvent, derive_id
from quantum_trader.domain.enums import RiskMode, Side
from quantum_trader.domain.order_ids import ENTRY, EXIT, STOP, client_order_id

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def fill(
    kind: str = "entry",
    *,
    symbol: str = "BTCUSDT",
    trade: str = "1",
    at: int = T0 + 60_000,
    side: Side | None = None,
    pnl: str = "0",
) -> FillEvent:
    purpose = {"entry": ENTRY, "exit": EXIT, "stop": STOP}[kind]
    coid = client_order_id(purpose, symbol, trade)
    return FillEvent(
        msg_id=derive_id("fill", symbol, trade),
        ts_event=at,
        ts_init=at,
        source="execution-pump",
        symbol=symbol,
        trade_id=trade,
        exchange_order_id=f"o{trade}",
        client_order_id=coid,
        side=side or (Side.BUY if kind == "entry" else Side.SELL),
        price=Decimal("42000.50"),
        qty=Decimal("0.010"),
        commission=Decimal("0.168002"),
        commission_asset="USDT",
        realized_pnl=Decimal(pnl),
        maker=False,
        reduce_only=kind != "entry",
    )


def risk_mode(at: int = T0 + 120_000, mode: RiskMode = RiskMode.REDUCE_ONLY) -> Event:
    return Event(
        msg_id=derive_id("risk_mode_changed", at, mode),
        ts_event=at,
        ts_init=at,
        source="risk-guard",
        kind="risk_mode_changed",
        severity="warning",
        risk_mode=mode,
        detail=f"NORMAL -> {mode.value}: GROSS_EXPOSURE",
        evidence={
            "added": "GROSS_EXPOSURE",
            "removed": "",
            "reasons": "GROSS_EXPOSURE",
            "previous_mode": "NORMAL",
        },
    )


def breaker(at: int = T0 + 180_000) -> Event:
    return Event(
        msg_id=derive_id("circuit", "two_entry_orders_for_one_plan", "ETHUSDT", at),
        ts_event=at,
        ts_init=at,
        source="circuit-breaker",
        kind="circuit_breaker",
        severity="critical",
        symbol="ETHUSDT",
        detail="entries halted: two_entry_orders_for_one_plan",
        risk_mode=RiskMode.HALT,
        evidence={"check": "two_entry_orders_for_one_plan", "symbol": "ETHUSDT", "plan": "p1"},
    )


def event(kind: str, severity: str, at: int = T0 + 240_000, detail: str = "") -> Event:
    return Event(
        msg_id=derive_id("ev", kind, at),
        ts_event=at,
        ts_init=at,
        source="supervisor",
        kind=kind,
        severity=severity,
        detail=detail or f"apply-layer: {kind}",
        evidence={"service": "apply-layer"},
    )
