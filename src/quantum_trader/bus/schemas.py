"""Typed, versioned message contracts: one frozen struct per message kind (FAILURES #8).

On the wire each stream entry has exactly one field, ``msg``, holding the whole message
(envelope and body) as JSON; ``type`` names the kind, ``schema_version`` its version.
Prices and quantities are Decimal, written as decimal strings. Decoding rejects unknown
fields, missing fields, wrong types, NaN/inf and negative quantities with a precise reason.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated

import msgspec

from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide, RiskMode, Side

SCHEMA_VERSION = 1
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,30}$")]
Ms = Annotated[int, msgspec.Meta(ge=0)]
Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


def derive_id(*parts: object) -> str:
    """A deterministic id from what identifies a thing (no uuid4, no clock)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise ValueError(reason)


def _finite(name: str, value: Decimal | None, *, positive: bool = False) -> None:
    if value is None:
        return
    _require(value.is_finite(), f"{name} must be finite, got {value}")
    if positive:
        _require(value > 0, f"{name} must be > 0, got {value}")
    else:
        _require(value >= 0, f"{name} must be >= 0, got {value}")


class Envelope(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    """Fields every message carries (DESIGN.md §3)."""

    schema_version: int = SCHEMA_VERSION
    msg_id: Id
    correlation_id: str = ""
    causation_id: str = ""
    ts_event: Ms
    ts_init: Ms
    source: str

    def __post_init__(self) -> None:
        _require(
            self.schema_version == SCHEMA_VERSION,
            f"unsupported schema_version {self.schema_version} (this reader knows "
            f"{SCHEMA_VERSION})",
        )


class MarketBar(Envelope, frozen=True, kw_only=True, tag="market.bar"):
    symbol: Symbol
    interval: str
    open_time: Ms
    close_time: Ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("open", "high", "low", "close"):
            _finite(name, getattr(self, name), positive=True)
        _finite("volume", self.volume)
        _require(self.low <= min(self.open, self.close), "low must be <= open and close")
        _require(self.high >= max(self.open, self.close), "high must be >= open and close")
        _require(self.close_time > self.open_time, "close_time must be after open_time")


class IntentFeatures(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Market features at signal time, for the exit brain's kill score."""

    regime: int = 0  # +1 trend up, -1 trend down, 0 range
    strength: float = 0.0
    volatility_ratio: float = 1.0


class TradeIntent(Envelope, frozen=True, kw_only=True, tag="trade.intent"):
    intent_id: Id
    symbol: Symbol
    side: PositionSide
    confidence: Unit
    strategy: str
    interval: str
    bar_time: Ms
    reference_price: Decimal
    stop_distance: Decimal
    take_profit_distance: Decimal | None = None
    features: IntentFeatures = IntentFeatures()
    expires_at: Ms

    def __post_init__(self) -> None:
        super().__post_init__()
        _finite("reference_price", self.reference_price, positive=True)
        _finite("stop_distance", self.stop_distance, positive=True)
        _finite("take_profit_distance", self.take_profit_distance, positive=True)


class Plan(Envelope, frozen=True, kw_only=True, tag="apply.plan", rename={"r_multiple": "R"}):
    plan_id: Id
    kind: PlanKind
    symbol: Symbol
    side: PositionSide
    action: PlanAction
    qty: Decimal | None = None
    pct: Decimal | None = None
    reference_price: Decimal | None = None  # entry reference for exposure accounting
    leverage: Annotated[int, msgspec.Meta(ge=1, le=125)] = 1
    stop_price: Decimal | None = None
    take_profit: tuple[Decimal, ...] = ()
    position_id: str | None = None
    reason_codes: tuple[str, ...] = ()
    kill_score: Unit | None = None
    kill_components: dict[str, float] = {}
    r_multiple: Decimal | None = None
    created_at: Ms
    expires_at: Ms

    def __post_init__(self) -> None:
        super().__post_init__()
        _finite("qty", self.qty, positive=True)
        _finite("reference_price", self.reference_price, positive=True)
        _finite("stop_price", self.stop_price, positive=True)
        for level in self.take_profit:
            _finite("take_profit", level, positive=True)
        if self.pct is not None:
            _require(self.pct.is_finite() and 0 < self.pct <= 1, "pct must be in (0, 1]")
        if self.r_multiple is not None:
            _require(self.r_multiple.is_finite(), "R must be finite")
        _require(self.expires_at >= self.created_at, "expires_at must not precede created_at")
        if self.kind is PlanKind.OPEN:
            _require(self.action is PlanAction.OPEN, "an OPEN plan must have action OPEN")
            _require(self.qty is not None, "an OPEN plan needs qty")
            _require(self.stop_price is not None, "an OPEN plan needs stop_price")
        else:
            _require(self.action is not PlanAction.OPEN, "a CLOSE plan cannot have action OPEN")
            _require(self.position_id is not None, "a CLOSE plan needs position_id")


class ApplyResult(Envelope, frozen=True, kw_only=True, tag="apply.result"):
    plan_id: Id
    symbol: Symbol
    action: PlanAction
    executed: bool
    reason: str
    client_order_id: str = ""
    exchange_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _finite("filled_qty", self.filled_qty)
        _finite("avg_price", self.avg_price)
        _require(bool(self.reason), "reason must not be empty")


class FillEvent(Envelope, frozen=True, kw_only=True, tag="fill"):
    symbol: Symbol
    trade_id: Id
    exchange_order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    maker: bool
    reduce_only: bool

    def __post_init__(self) -> None:
        super().__post_init__()
        _finite("price", self.price, positive=True)
        _finite("qty", self.qty, positive=True)
        _require(self.commission.is_finite(), "commission must be finite")
        _require(self.realized_pnl.is_finite(), "realized_pnl must be finite")


class Event(Envelope, frozen=True, kw_only=True, tag="event"):
    """Something an operator should see: risk-mode change, reconcile repair, restart."""

    kind: str
    severity: str = "info"
    symbol: str = ""
    detail: str = ""
    reconciliation: bool = False
    risk_mode: RiskMode | None = None
    evidence: dict[str, str] = {}


class Heartbeat(Envelope, frozen=True, kw_only=True, tag="heartbeat"):
    service: str
    instance: str
    pid: int
    status: str
    started_at: Ms
    processed: Annotated[int, msgspec.Meta(ge=0)] = 0
    failed: Annotated[int, msgspec.Meta(ge=0)] = 0
    dead_lettered: Annotated[int, msgspec.Meta(ge=0)] = 0
    shards: tuple[int, ...] = ()  # the symbol shards this process serves (sharded only)


class DeadLetter(Envelope, frozen=True, kw_only=True, tag="dead"):
    reason: str
    source_stream: str
    original_id: str
    group: str
    consumer: str
    failures: int
    raw: str


class OperatorAction(Envelope, frozen=True, kw_only=True, tag="operator.action"):
    """One action an operator took (the dashboard's audit stream): who, what, when
    (``ts_event``, the system's clock) and the result. ``action_id`` is the request's
    idempotency key: a repeated request is one action, recorded once."""

    action_id: Id
    user: str
    role: str
    action: str  # kill_switch_on, kill_switch_off, pause_entries, resume_entries, close, ...
    symbol: str = ""
    params: dict[str, str] = {}
    result: str  # accepted / refused / forbidden
    detail: str = ""
    plan_id: str = ""  # the exit plan it sent down the exit lane, if any


Message = (
    MarketBar
    | TradeIntent
    | Plan
    | ApplyResult
    | FillEvent
    | Event
    | Heartbeat
    | DeadLetter
    | OperatorAction
)
MESSAGE_TYPES: tuple[type[Envelope], ...] = (
    MarketBar,
    TradeIntent,
    Plan,
    ApplyResult,
    FillEvent,
    Event,
    Heartbeat,
    DeadLetter,
    OperatorAction,
)
