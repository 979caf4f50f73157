"""Which symbol shard a symbol belongs to: a pure, stable assignment.

With ``sharding.shards`` = N > 1, the symbols are split into N shards and each shard's
plans travel on their own lanes (``apply.plan.{k}``, ``apply.exit.{k}``) to the one
executor holding that shard's lease. Every process must agree on the assignment, on
every host and after every restart, so it comes from SHA-256 of the symbol's name (its
first 8 bytes, big-endian, modulo N: an operator can compute it with any tool) — never
Python's ``hash``, which is salted per process. With N = 1 every symbol is shard 0 and
the system runs exactly as unsharded (the same stream names, the same keys).

Changing N moves symbols between shards: drain the plan lanes first (stop the intent
bridge and the exit brain, let every lane empty), then restart everything with the new N.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MAX_SHARDS = 256  # far more executors than one Redis primary's clients would ever need


def shard_of(symbol: str, shards: int) -> int:
    """The shard of ``symbol`` among ``shards`` (0 .. shards - 1)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be in 1..{MAX_SHARDS}, got {shards}")
    if shards == 1:
        return 0
    digest = hashlib.sha256(symbol.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_symbols(symbols: Iterable[str], shards: int) -> tuple[tuple[str, ...], ...]:
    """The symbols of each shard, shard 0 first, each in the order given (every shard is
    listed, an empty one too)."""
    shard_of("", shards)  # the same check of ``shards``, before any symbol
    members: list[list[str]] = [[] for _ in range(shards)]
    for symbol in symbols:
        members[shard_of(symbol, shards)].append(symbol)
    return tuple(tuple(m) for m in members)
