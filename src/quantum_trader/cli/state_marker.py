"""``quantum state``: is Redis still holding this system's state, and lift the halt after
it lost it.

``show`` compares the epoch marker in Redis with the data directory's copy and lists the
durable kill switch and breaker. ``confirm`` is the operator's step after a loss (see
``ops.safety_state``): it requires a reconcile round since the loss — the position
monitor rebuilt the ledger from the exchange, which ``reconcile:last`` existing again
proves — then writes the marker back, and entries resume.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import redis
import typer
from rich.console import Console

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.cli.checks import unreachable_redis
from quantum_trader.cli.context import fail, settings
from quantum_trader.clock import SystemClock
from quantum_trader.config import Settings
from quantum_trader.infra.connect import NoRedis, resolve_target
from quantum_trader.infra.redis_connect import master_client, master_client_sync
from quantum_trader.runtime.safety_state import NotConfirmable, SafetyStore, confirm_after_loss

app = typer.Typer(
    help="Whether Redis still holds this system's state; confirm it after a loss.",
    no_args_is_help=True,
)
console = Console()


def _target() -> tuple[redis.Redis, Keys, SafetyStore]:
    s = settings()
    try:
        target = resolve_target(s)
    except NoRedis as exc:
        raise fail(str(exc)) from None
    keys = Keys(target.shown_prefix)
    client = master_client_sync(s, target.url, socket_connect_timeout=2.0)
    return client, keys, SafetyStore(s.data_dir, keys.prefix)


def _state(client: redis.Redis, keys: Keys, store: SafetyStore) -> dict[str, Any]:
    saved = store.read()
    held = client.get(keys.epoch)
    epoch = as_text(held) if held is not None else None
    remembered = saved.get("epoch")
    if remembered is None:
        verdict = "unknown: this data directory has no record of the system"
    elif epoch == remembered:
        verdict = "intact"
    elif epoch is None:
        verdict = "lost: entries halted until `quantum state confirm`"
    else:
        verdict = "foreign: Redis holds another system's marker"
    return {
        "namespace": keys.prefix,
        "state": verdict.split(":")[0],
        "detail": verdict,
        "epoch_in_redis": epoch,
        "epoch_remembered": remembered,
        "reconciled_since": client.exists(keys.reconcile_last) == 1,
        "durable_kill_switch": saved.get("kill_switch"),
        "durable_circuit": saved.get("circuit"),
        "durable_risk_mode": (saved.get("risk_state") or {}).get("mode"),
        "file": str(store.path),
    }


@app.command("show")
def state_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The epoch marker in Redis against the data directory's copy."""
    client, keys, store = _target()
    try:
        with client:
            shown = _state(client, keys, store)
    except redis.RedisError as exc:
        raise fail(unreachable_redis(exc, lead="cannot talk to Redis")) from None
    except OSError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    for name, value in shown.items():
        console.print(f"{name:22} {value}", highlight=False)


@app.command("confirm")
def state_confirm(
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again (an event).")],
) -> None:
    """After Redis lost the state: once a reconcile round has run, write the marker back
    so entries resume."""
    if not reason.strip():
        raise fail("--reason must not be empty: say why it is safe to trade again")
    s = settings()
    try:
        target = resolve_target(s)
    except NoRedis as exc:
        raise fail(str(exc)) from None
    keys = Keys(target.shown_prefix)
    store = SafetyStore(s.data_dir, keys.prefix)
    try:
        confirmed = asyncio.run(_confirm(s, target.url, keys, store, reason.strip()))
    except NotConfirmable as exc:
        raise fail(f"cannot confirm: {exc}") from None
    except redis.RedisError as exc:
        raise fail(unreachable_redis(exc, lead="cannot talk to Redis")) from None
    except OSError as exc:
        raise fail(str(exc)) from None
    if not confirmed:
        console.print("state intact: nothing to confirm")
        return
    console.print("state confirmed: entries resume once no other risk reason holds")


async def _confirm(s: Settings, url: str, keys: Keys, store: SafetyStore, reason: str) -> bool:
    client = master_client(s, url, socket_connect_timeout=2.0)
    try:
        return await confirm_after_loss(client, keys, store, reason, SystemClock().now_ms())
    finally:
        await client.aclose()
