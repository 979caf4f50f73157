"""``quantum ops render``: the monitoring of this system as files — Prometheus' scrape
configuration and alert rules, Alertmanager's routing, Grafana's provisioning and
dashboard — from the settings (ports, limits) and the options given here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from quantum_trader.alerting.alertmanager import Receivers
from quantum_trader.alerting.prometheus import parse_hosts
from quantum_trader.alerting.render import RenderOptions, render, write
from quantum_trader.alerting.thresholds import AlertThresholds
from quantum_trader.cli.context import fail, settings

ops_app = typer.Typer(
    help="Operate the system: its monitoring, as files to deploy.", no_args_is_help=True
)
console = Console(soft_wrap=True)
DEFAULTS = RenderOptions()
RECEIVERS = Receivers()


@ops_app.command("render")
def render_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files into.")],
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--hosts",
            help="HOST (every service and the metrics service run there) or "
            "HOST=SERVICE+SERVICE; repeat or comma-separate. Default 127.0.0.1.",
        ),
    ] = None,
    alertmanager: Annotated[
        list[str] | None,
        typer.Option(help="Alertmanager HOST:PORT Prometheus sends to (repeatable)."),
    ] = None,
    prometheus_url: Annotated[
        str, typer.Option(help="Prometheus' URL, for Grafana's data source.")
    ] = DEFAULTS.prometheus_url,
    scrape_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between scrapes.")
    ] = DEFAULTS.scrape_interval_s,
    evaluation_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between rule evaluations.")
    ] = DEFAULTS.evaluation_interval_s,
    system: Annotated[
        str, typer.Option(help="The `system` label on every series and alert.")
    ] = DEFAULTS.system,
    runbook_url: Annotated[
        str,
        typer.Option(help="Where docs/runbooks.md is served; each alert links to #its-name."),
    ] = DEFAULTS.runbook_url,
    dashboards_path: Annotated[
        str, typer.Option(help="Where Grafana reads the dashboard JSON on its host.")
    ] = DEFAULTS.dashboards_path,
    page_key_file: Annotated[
        str, typer.Option(help="File with the PagerDuty routing key (critical alerts).")
    ] = RECEIVERS.page_key_file,
    chat_url_file: Annotated[
        str, typer.Option(help="File with the Slack webhook URL (warnings, and pages too).")
    ] = RECEIVERS.chat_url_file,
    chat_channel: Annotated[str, typer.Option(help="Slack channel.")] = RECEIVERS.chat_channel,
    deadman_url: Annotated[
        str, typer.Option(help="The dead-man switch's check URL (the watchdog pings it).")
    ] = RECEIVERS.deadman_url,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Alert threshold NAME=VALUE (alerting/thresholds.py), repeatable."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; exit 1 if the files in --out differ from these."
        ),
    ] = False,
) -> None:
    """Write the scrape config, alert rules, Alertmanager config and Grafana provisioning."""
    try:
        options = RenderOptions(
            hosts=tuple(parse_hosts(hosts or [])),
            alertmanagers=tuple(alertmanager or DEFAULTS.alertmanagers),
            prometheus_url=prometheus_url,
            scrape_interval_s=scrape_interval,
            evaluation_interval_s=evaluation_interval,
            system=system,
            runbook_url=runbook_url,
            dashboards_path=dashboards_path,
            receivers=Receivers(page_key_file, chat_url_file, chat_channel, deadman_url),
            thresholds=AlertThresholds().with_overrides(set_ or []),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    files = render(settings(), options)
    if check:
        stale = [p for p, text in files.items() if _read(out / p) != text]
        for relative in stale:
            console.print(f"differs: {out / relative}", highlight=False)
        if stale:
            raise fail(f"{len(stale)} file(s) in {out} differ from `quantum ops render`", 1)
        console.print(f"{out}: {len(files)} files up to date", highlight=False)
        return
    for path in write(out, files):
        console.print(f"wrote {path}", highlight=False)
    console.print(
        f"check them: promtool check config {out}/prometheus/prometheus.yml; "
        f"amtool check-config {out}/alertmanager/alertmanager.yml",
        highlight=False,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
