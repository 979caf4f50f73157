"""``quantum deploy systemd --hosts FILE --out DIR``: the systemd units of a deployment.

For every host of the hosts file (``ops/deploy/hosts.py`` documents it), ``DIR/HOST/``
gets one ``quantum-<service>.service`` per service it runs and ``quantum-<host>.target``
that wants them all; copy them to ``/etc/systemd/system/`` on that host and ``systemctl
enable --now quantum-<host>.target``. The watchdog's timeout follows this command's
heartbeat settings (``--config`` / ``QUANTUM_HEARTBEAT_TTL_MS``), which should be the
hosts' too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quantum_trader.cli.context import err_console, fail, settings

deploy_app = typer.Typer(help="Install the system on hosts: systemd units from a hosts file.")


@deploy_app.command("systemd")
def systemd_command(
    hosts: Annotated[
        Path,
        typer.Option(
            "--hosts",
            help="The hosts file (TOML): [deploy] quantum, user, exchange_url, settings, "
            "environment, credentials, ip_allow; [hosts.NAME] services = [...].",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write DIR/HOST/units to.")],
) -> None:
    """Render one unit per service per host, and a target per host."""
    from quantum_trader.ops.deploy.hosts import HostsError, load_hosts, unplaced
    from quantum_trader.ops.deploy.units import render, target_name, watchdog_s, write

    s = settings()
    try:
        deployment = load_hosts(hosts)
    except HostsError as exc:
        raise fail(str(exc)) from None
    try:
        write(out, render(deployment, s))
    except OSError as exc:
        raise fail(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    for host in deployment.hosts:
        err_console.print(
            f"{out / host.name}: {target_name(host.name)} and {len(host.services)} units "
            f"({', '.join(host.services)})",
            highlight=False,
            soft_wrap=True,
        )
    if missing := unplaced(deployment):
        err_console.print(
            f"warning: no host runs {', '.join(missing)}: add each to a host's services, "
            "or the deployment trades without it",
            highlight=False,
            soft_wrap=True,
        )
    err_console.print(
        f"WatchdogSec={watchdog_s(s)}; on each host: copy its directory to /etc/systemd/system/,"
        " then `systemctl daemon-reload && systemctl enable --now quantum-HOST.target`",
        highlight=False,
        soft_wrap=True,
    )
