"""The symbol → shard assignment: stable on every host and run, balanced, a partition."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quantum_trader.data.scale_symbols import scale_specs
from quantum_trader.decide.shards import MAX_SHARDS, shard_of, shard_symbols

# SHA-256 of the name, first 8 bytes big-endian, modulo the shard count: fixed forever
# (every process of a deployment, and every release, must agree on it).
KNOWN = {
    ("BTCUSDT", 2): 1,
    ("ETHUSDT", 2): 0,
    ("BNBUSDT", 2): 0,
    ("SOLUSDT", 3): 2,
    ("DOGEUSDT", 3): 0,
    ("ETHUSDT", 4): 2,
    ("ETHUSDT", 8): 6,
    ("BNBUSDT", 8): 4,
}


def test_the_assignment_is_the_documented_one_forever() -> None:
    assert {case: shard_of(*case) for case in KNOWN} == KNOWN


def test_the_assignment_does_not_depend_on_the_process_hash_seed() -> None:
    """Python's ``hash`` of a str changes with PYTHONHASHSEED; the assignment must not."""
    code = (
        "from quantum_trader.decide.shards import shard_of; "
        "print([shard_of(s, 7) for s in ('BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT')])"
    )
    seen = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(run.stdout.strip())
    assert seen == {str([shard_of(s, 7) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")])}


def test_one_shard_is_everything_unsharded() -> None:
    symbols = list(scale_specs(400))
    assert {shard_of(s, 1) for s in symbols} == {0}
    assert shard_symbols(symbols, 1) == (tuple(symbols),)


@pytest.mark.parametrize("shards", range(2, 9))
def test_four_hundred_symbols_spread_evenly_enough(shards: int) -> None:
    """About 400 perpetuals: no shard more than 30 % above or below an even share."""
    symbols = list(scale_specs(400))
    sizes = [len(members) for members in shard_symbols(symbols, shards)]
    even = len(symbols) / shards
    assert sum(sizes) == len(symbols)
    assert max(sizes) <= 1.3 * even and min(sizes) >= 0.7 * even, sizes


def test_the_shards_partition_the_symbols_in_their_order() -> None:
    symbols = list(scale_specs(60))
    members = shard_symbols(symbols, 4)
    assert len(members) == 4
    assert sorted(s for shard in members for s in shard) == sorted(symbols)
    for k, shard in enumerate(members):
        assert all(shard_of(s, 4) == k for s in shard)
        assert list(shard) == [s for s in symbols if s in shard]  # the order given


@pytest.mark.parametrize("shards", [0, -1, MAX_SHARDS + 1])
def test_an_impossible_shard_count_is_refused(shards: int) -> None:
    with pytest.raises(ValueError, match="shards must be in 1"):
        shard_of("BTCUSDT", shards)
    with pytest.raises(ValueError, match="shards must be in 1"):
        shard_symbols(["BTCUSDT"], shards)
