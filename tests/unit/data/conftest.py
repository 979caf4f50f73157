"""Fixtures for market-data tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_data


@pytest.fixture
def real_dir() -> Path:
    return shared_data("klines")
