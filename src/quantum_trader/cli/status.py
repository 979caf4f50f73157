"""``quantum status``: the running system at a glance (services, risk mode, positions)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import redis.asyncio as aioredis
import typer

from quantum_trader.cli.checks import unreachable_redis
from quantum_trader.cli.context import fail, settings
from quantum_trader.infra.connect import NoRedis, resolve_target
from quantum_trader.observability.status import NOT_RUNNING, gather, show, system_running


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Services, risk mode, positions with PnL and stops, last results (needs a running system)."""
    s = settings()  # a malformed QUANTUM_REDIS_URL ends here, in one line
    try:
        target = resolve_target(s)
    except NoRedis as exc:
        raise fail(str(exc)) from None
    url = target.url
    try:
        data = asyncio.run(gather(s, url, target.shown_prefix, target.run_id))
    except (OSError, aioredis.RedisError) as exc:
        raise fail(unreachable_redis(exc, url)) from None
    if not system_running(data):
        if as_json:
            print(json.dumps({**data, "running": False}, indent=2))
        raise fail(NOT_RUNNING, code=1)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    show(data)
