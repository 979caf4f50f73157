"""The in-memory ledger keeps every promise of the ledger port (the shared case table)."""

from __future__ import annotations

import pytest

from quantum_trader.services.ledger_port import MemoryLedger
from tests.unit.services.ledger_cases import CASES


@pytest.mark.parametrize("case", list(CASES))
async def test_memory_ledger(case: str) -> None:
    await CASES[case](MemoryLedger())
