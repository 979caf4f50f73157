"""Fixtures for market-data tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.data.samples import REAL_DATA


@pytest.fixture
def real_dir() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data directory {REAL_DATA} is not available on this machine")
    return REAL_DATA
