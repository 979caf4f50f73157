"""Client order ids: the one scheme every mode uses (backtest, paper, live).

``q<purpose>-<28 hex>`` — Binance-safe (≤ 36 characters of ``[A-Za-z0-9-]``) and
deterministic: the same plan always yields the same id, so a retry after a crash finds
the earlier order instead of placing a second one (DESIGN §2, invariant 1). The
purpose letter says what the order is for; everything that reads an id (the ledger's
"opened by us or adopted", the journal's exit reason, the checker and the circuit
breaker) asks these functions, never a literal prefix.
"""

from __future__ import annotations

import hashlib
from typing import Final

ENTRY: Final = "e"  # a plan's entry order
EXIT: Final = "x"  # a market exit (close, partial close, emergency exit)
STOP: Final = "s"  # a protective stop
TARGET: Final = "t"  # a fixed take-profit (strategies with fixed exits)
PANIC: Final = "p"  # the supervisor's panic flatten

ENTRY_PREFIX: Final = f"q{ENTRY}-"
EXIT_PREFIX: Final = f"q{EXIT}-"
STOP_PREFIX: Final = f"q{STOP}-"
DIGEST_CHARS = frozenset("0123456789abcdef")


def client_order_id(purpose: str, *parts: object) -> str:
    """The id of the order for ``purpose`` identified by ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:28]
    return f"q{purpose}-{digest}"


def is_ours(client_order_id: str) -> bool:
    """An id this system derives (anything else was placed by a person or another bot)."""
    purpose, _, digest = client_order_id.partition("-")
    return (
        len(purpose) > 1
        and purpose.startswith("q")
        and purpose[1:].isalpha()
        and purpose.islower()
        and len(digest) == 28
        and set(digest) <= DIGEST_CHARS
    )


def is_entry(client_order_id: str) -> bool:
    return client_order_id.startswith(ENTRY_PREFIX)


def is_stop(client_order_id: str) -> bool:
    return client_order_id.startswith(STOP_PREFIX)


def is_exit(client_order_id: str) -> bool:
    """A market exit or a protective stop: an order that reduces a position."""
    return client_order_id.startswith((EXIT_PREFIX, STOP_PREFIX))
