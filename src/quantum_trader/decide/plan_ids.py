"""Shared width of derived plan ids (sha256 hex prefixes)."""

from __future__ import annotations

PLAN_ID_HEX_CHARS = 20  # leaves room in Binance's 36-char client order id for a prefix
