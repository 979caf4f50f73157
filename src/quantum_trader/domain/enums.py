"""Enumerations shared by every layer: sides, order types, statuses, plan actions, risk modes."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Order side (BUY/SELL) as Binance spells it."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionSide(StrEnum):
    """Direction of a net position in one-way mode."""

    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def entry_side(self) -> Side:
        return Side.BUY if self is PositionSide.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        return Side.SELL if self is PositionSide.LONG else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is PositionSide.LONG else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.REJECTED,
        )


class WorkingType(StrEnum):
    """Which price triggers a conditional order."""

    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class PlanKind(StrEnum):
    OPEN = "OPEN"
    CLOSE = "CLOSE"


class PlanAction(StrEnum):
    """What a plan asks for. The one place where action semantics are defined (FAILURES #26)."""

    OPEN = "OPEN"
    PARTIAL_25 = "PARTIAL_25"
    PARTIAL_50 = "PARTIAL_50"
    PARTIAL_75 = "PARTIAL_75"
    FULL_CLOSE = "FULL_CLOSE"
    UPDATE_STOP = "UPDATE_STOP"
    HOLD = "HOLD"

    @property
    def close_fraction(self) -> str | None:
        """Fraction of the live position an exit closes (decimal string); None if no exit."""
        return _CLOSE_FRACTION.get(self)


_CLOSE_FRACTION: dict[PlanAction, str] = {
    PlanAction.PARTIAL_25: "0.25",
    PlanAction.PARTIAL_50: "0.50",
    PlanAction.PARTIAL_75: "0.75",
    PlanAction.FULL_CLOSE: "1",
}


class RiskMode(StrEnum):
    NORMAL = "NORMAL"
    REDUCE_ONLY = "REDUCE_ONLY"
    HALT = "HALT"

    @property
    def allows_entries(self) -> bool:
        return self is RiskMode.NORMAL


class EntrySizing(StrEnum):
    """How an entry is sized: the system's risk sizing, or all the account's equity."""

    RISK = "risk"  # decide.sizing: risk_pct of equity at the stop, within the caps
    FULL_EQUITY = "full_equity"  # qty = equity / (fill price × (1 + taker fee))


class ExitRules(StrEnum):
    """Who exits a position: the exit brain, or a fixed stop and target only."""

    EXIT_BRAIN = "exit_brain"  # ladder, break-even, trailing, kill score, time stop
    FIXED = "fixed"  # stop / target at the signal's stop_pct / target_pct of the entry fill
