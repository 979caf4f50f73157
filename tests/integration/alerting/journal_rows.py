"""A trade journal holding closed positions around one market day (2024-01-01 UTC)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import PositionSide
from quantum_trader.services.journal import Journal
from tests.unit.alerting.samples import T0

HOUR = 3_600_000


def closed_positions_journal(path: Path) -> Journal:
    journal = Journal(f"sqlite:///{path}", run_id="r1")
    rows = [  # (closed at, realized, fees, reason)
        (T0 - HOUR, "100", "1", "stop"),  # the day before
        (T0 + 10 * HOUR, "30", "0.5", "trailing_stop"),
        (T0 + 15 * HOUR, "-12", "0.5", "stop"),
        (T0 + 24 * HOUR + HOUR // 2, "-50", "1", "kill_score"),  # the day after
    ]
    for n, (closed_at, realized, fees, reason) in enumerate(rows):
        position = LedgerPosition(
            symbol="BTCUSDT",
            side=PositionSide.LONG,
            qty=Decimal("0.01"),
            entry_price=Decimal("42000"),
            leverage=5,
            position_id=f"BTCUSDT:{n}",
            version=1,
            opened_at=closed_at - HOUR,
            updated_at=closed_at,
            open_client_order_id=f"qe-{n}",
            initial_qty=Decimal("0.01"),
            initial_stop=Decimal("41000"),
            stop_price=Decimal("41000"),
            stop_order_id="",
            ladder_stage=0,
            realized_pnl=Decimal(realized),
            fees=Decimal(fees),
            source="plan",
        )
        journal._record_close(position, Decimal("42100"), closed_at, reason, None)
    return journal
