"""``quantum notify test [--target NAME] [--json]``: one test message to each configured
notify target (or one), through the same formats, rate limit and retries the notifier
uses, and a table of what each answered. Exit 0 when every one took it, 1 otherwise."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.alerting.notify_http import SendOutcome, WebhookSender
from quantum_trader.alerting.notify_messages import probe_notice
from quantum_trader.cli.context import fail, settings
from quantum_trader.clock import SystemClock
from quantum_trader.config import NotifySettings

notify_app = typer.Typer(help="Webhook and chat notifications (notify.targets).")
console = Console()


async def send_tests(notify: NotifySettings, names: list[str], system: str) -> list[SendOutcome]:
    """Send the test notice to each of ``names``, all at once."""
    sender = WebhookSender(notify, system=system)
    now = SystemClock().now_ms()
    try:
        return list(
            await asyncio.gather(
                *(
                    sender.deliver(
                        n, notify.targets[n], probe_notice(n, notify.targets[n].kind.value, now)
                    )
                    for n in names
                )
            )
        )
    finally:
        await sender.close()


@notify_app.command("test")
def test_command(
    target: Annotated[
        str | None, typer.Option("--target", help="Only this target (default: every one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send one test message to each configured target and show how each answered."""
    s = settings()
    targets = s.notify.targets
    if not targets:
        raise fail(
            "no notify targets configured: set notify.targets (see README, Notifications), "
            'e.g. QUANTUM_NOTIFY__TARGETS=\'{"ops": {"kind": "generic", "url": "https://…"}}\''
        )
    if target is not None and target not in targets:
        raise fail(f"--target {target!r}: not configured; configured: {', '.join(targets)}")
    names = [target] if target is not None else list(targets)
    outcomes = asyncio.run(send_tests(s.notify, names, s.key_prefix))
    if as_json:
        print(json.dumps([o.as_json() for o in outcomes], indent=2))
    else:
        table = Table(title="notify test")
        for column in ("target", "kind", "result", "status", "attempts", "ms", "detail"):
            table.add_column(column)
        for o in outcomes:
            table.add_row(
                o.target,
                o.kind,
                "[green]sent[/]" if o.sent else "[red]failed[/]",
                "" if o.status is None else str(o.status),
                str(o.attempts),
                str(o.elapsed_ms),
                o.reason,
            )
        console.print(table)
    if not all(o.sent for o in outcomes):
        raise typer.Exit(1)
