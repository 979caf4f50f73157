"""``quantum kill-switch``: the operator's manual stop for new entries.

``on --reason`` writes ``risk:kill_switch`` (a JSON string ``{"reason", "at"}``); while the
key exists the apply layer's gate refuses every entry (HALT) and the risk guard reports
``kill_switch`` in ``risk:state``. Exits are never blocked (invariant 4): open positions
keep their stops and the exit brain keeps closing them. The switch is also written to the
data directory (``safety/<namespace>.json``): a Redis that loses it gets it back
(``ops.safety_state``). ``off`` deletes the key and the copy;
``status`` shows the switch and the risk guard's current mode, with times as ISO-8601 UTC
and their age (``2024-01-01T07:00:00Z (3m 12s ago)``); its ``--json`` keeps the epoch-ms
fields and adds an ``<field>_iso`` string next to each.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import redis
import typer
from rich.console import Console

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.cli.checks import unreachable_redis
from quantum_trader.cli.context import err_console, fail, settings
from quantum_trader.clock import SystemClock
from quantum_trader.domain.timefmt import describe, iso_or_none
from quantum_trader.infra.connect import NoRedis, resolve_target
from quantum_trader.infra.redis_connect import master_client_sync
from quantum_trader.runtime.safety_state import SafetyStore, operator_event

app = typer.Typer(
    help="Stop new entries by hand (exits go on), resume them, or show the risk mode.",
    no_args_is_help=True,
)
console = Console()


def _connect() -> tuple[redis.Redis, Keys, list[Keys]]:
    """The Redis, the namespace shown (a running paper run's, else the configured one),
    and every namespace a switch is thrown in (the configured one and a running run's)."""
    s = settings()  # a malformed QUANTUM_REDIS_URL ends here, in one line
    try:
        target = resolve_target(s)
    except NoRedis as exc:
        raise fail(str(exc)) from None
    client = master_client_sync(s, target.url, socket_connect_timeout=2.0)
    return client, Keys(target.shown_prefix), [Keys(p) for p in target.prefixes]


def _unreachable(exc: redis.RedisError) -> typer.Exit:
    return fail(unreachable_redis(exc, lead="cannot talk to Redis"))


def _read_json(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.get(key)
    if raw is None:
        return None
    try:
        data = json.loads(as_text(raw))
    except ValueError:
        return {"raw": as_text(raw)}
    return data if isinstance(data, dict) else {"raw": data}


@app.command("on")
def kill_switch_on(
    reason: Annotated[
        str, typer.Option("--reason", help="Why entries stop (shown in events and status).")
    ],
) -> None:
    """Engage the kill switch: no new entries until `off`. Exits go on."""
    reason = reason.strip()
    if not reason:
        raise fail("--reason must not be empty: say why entries are being stopped")
    client, _, every = _connect()
    value = json.dumps({"reason": reason, "at": SystemClock().now_ms()})
    try:
        with client:
            for keys in every:
                client.set(keys.risk_kill_switch, value)
    except redis.RedisError as exc:
        raise _unreachable(exc) from None
    _durably(every, kill_switch=json.loads(value))
    console.print(f"kill switch ON: {reason} (new entries blocked; exits go on)", highlight=False)


def _durably(every: list[Keys], **changes: Any) -> None:
    """The data directory's copy, which a lost Redis cannot clear; a failure to write it
    is said, never fatal (the switch in Redis already holds)."""
    data_dir = settings().data_dir
    for keys in every:
        store = SafetyStore(data_dir, keys.prefix)
        try:
            store.update(**changes)
        except OSError as exc:
            err_console.print(f"warning: durable copy not written ({store.path}: {exc})")


@app.command("off")
def kill_switch_off() -> None:
    """Release the kill switch: entries resume once no other risk reason holds."""
    client, _, every = _connect()
    try:
        with client:
            removed = sum(client.delete(keys.risk_kill_switch) for keys in every)
    except redis.RedisError as exc:
        raise _unreachable(exc) from None
    _durably(every, kill_switch=None)
    console.print("kill switch OFF" if removed else "kill switch was not engaged")


@app.command("status")
def kill_switch_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the kill switch and the risk guard's mode and reasons."""
    client, keys, _ = _connect()
    try:
        with client:
            switch = _read_json(client, keys.risk_kill_switch)
            risk = _read_json(client, keys.risk_state)
            breaker = _read_json(client, keys.risk_circuit)
    except redis.RedisError as exc:
        raise _unreachable(exc) from None
    if as_json:
        shown = {
            "kill_switch": with_iso_times(switch, ("at",)),
            "risk_state": with_iso_times(risk, ("since", "updated_at")),
            "circuit_breaker": with_iso_times(breaker, ("at",)),
        }
        print(json.dumps(shown))
        return
    for line in status_lines(switch, risk, breaker, SystemClock().now_ms()):
        console.print(line, highlight=False)


def with_iso_times(value: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """``value`` with ``<field>_iso`` (ISO-8601 UTC, or null) after each epoch-ms field."""
    if value is None:
        return None
    out = dict(value)
    for name in fields:
        if name in value:
            out[f"{name}_iso"] = iso_or_none(value[name])
    return out


def status_lines(
    switch: dict[str, Any] | None,
    risk: dict[str, Any] | None,
    breaker: dict[str, Any] | None,
    now: int,
) -> list[str]:
    """What ``status`` prints, times as ``2024-01-01T07:00:00Z (3m 12s ago)`` at ``now``."""
    lines = []
    if breaker is not None:
        lines.append(
            f"circuit breaker: TRIPPED ({breaker.get('reason', '?')}: "
            f"{breaker.get('evidence', {})}, at {describe(breaker.get('at'), now)}); "
            "clear with `quantum kill-switch reset-breaker`"
        )
    if switch is None:
        lines.append("kill switch: off")
    else:
        lines.append(
            f"kill switch: ON ({switch.get('reason', '?')}, "
            f"since {describe(switch.get('at'), now)})"
        )
    if risk is None:
        lines.append("risk state: none written yet (is the risk guard running?)")
    else:
        reasons = ", ".join(risk.get("reasons") or []) or "none"
        since = describe(risk.get("since"), now, unknown="the risk guard started")
        lines.append(
            f"risk mode: {risk.get('mode', '?')} since {since} "
            f"(reasons: {reasons}; updated {describe(risk.get('updated_at'), now)})"
        )
    return lines


@app.command("reset-breaker")
def reset_breaker(
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again (journalled).")],
) -> None:
    """Clear a tripped circuit breaker (operator only: read its evidence first)."""
    client, keys, _ = _connect()
    try:
        with client:
            evidence = _read_json(client, keys.risk_circuit)
            client.delete(keys.risk_circuit)
            if evidence is not None:
                client.xadd(keys.events, {"msg": _reset_event(evidence, reason)})
    except redis.RedisError as exc:
        raise _unreachable(exc) from None
    _durably([keys], circuit=None)
    console.print("circuit breaker cleared" if evidence else "circuit breaker was not tripped")


def _reset_event(evidence: dict[str, Any], reason: str) -> bytes:
    return operator_event(
        "circuit_breaker_reset",
        int(evidence.get("at", 0)),
        reason,
        f"cleared by an operator: {reason}",
        {"tripped_by": str(evidence.get("reason", ""))},
    )
