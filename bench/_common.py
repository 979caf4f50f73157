"""Shared benchmark plumbing: a private redis-server and the final JSON line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from quantum_trader.infra.embedded_redis import EmbeddedRedis


def redis_server() -> EmbeddedRedis:
    return EmbeddedRedis(Path(tempfile.mkdtemp(prefix="qt-bench-")), fsync="everysec").start()


def report(bench: str, ours: float, baseline: float, unit: str, **extra: object) -> None:
    """Every benchmark ends with this one JSON line."""
    line = {
        "bench": bench,
        "ours": round(ours, 3),
        "baseline": round(baseline, 3),
        "ratio": round(ours / baseline, 3) if baseline else None,
        "unit": unit,
        **extra,
    }
    print(json.dumps(line))
