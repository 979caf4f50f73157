"""systemd units for a deployment: one ``quantum-<service>.service`` per service per host
and one ``quantum-<host>.target`` that wants them all (``systemctl enable --now``).

Each unit runs ``quantum service NAME`` as ``Type=notify``: started once its loops run
(``READY=1``), restarted when its loop stops feeding the watchdog (``WatchdogSec=``, two
heartbeat TTLs) or when it exits non-zero (``Restart=on-failure``, within a start
limit), as the hosts file's user, with its data directory as its ``StateDirectory=``,
its secrets through ``LoadCredential=`` (read from ``$CREDENTIALS_DIRECTORY`` by the
settings, never in the unit or its environment), and sandboxed to what a Python process
talking TCP needs — ``systemd-analyze security`` rates each unit "OK" (≤ 4.0; about 1).
"""

from __future__ import annotations

import math
from pathlib import Path

from quantum_trader.config import Settings
from quantum_trader.ops.deploy.hosts import Deployment, HostPlan
from quantum_trader.ops.service_main import NO_EXCHANGE

STATE = "quantum"  # StateDirectory= (/var/lib/quantum): the data directory of every unit
START_TIMEOUT_S = 300  # a signal engine replays its warm-up bars before it is ready
STOP_TIMEOUT_S = 30  # loops finish their batch (5 s), then a bounded cleanup
RESTART_S = 5
START_LIMIT = (600, 10)  # at most 10 starts in 10 minutes, then the unit stays failed

# The sandbox: every setting `systemd-analyze security` weighs that a CPython process
# serving and calling TCP can live with (no JIT: MemoryDenyWriteExecute holds). Not
# ProcSubset=pid: it hides /proc/stat, whose boot time the process metrics need for
# process_start_time_seconds (the crash-loop alert counts its changes).
HARDENING = """\
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
PrivateMounts=yes
PrivateIPC=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
DevicePolicy=closed
KeyringMode=private
RemoveIPC=yes
"""


def watchdog_s(settings: Settings) -> int:
    """``WatchdogSec=``: two heartbeat TTLs (ten heartbeats by default), so a process
    is restarted only once its loops have been silent well past what the watchdog
    service already answered with REDUCE_ONLY."""
    return max(2, math.ceil(2 * settings.heartbeat_ttl_ms / 1000))


def unit_name(service: str) -> str:
    return f"quantum-{service}.service"


def target_name(host: str) -> str:
    return f"quantum-{host}.target"


def render(deployment: Deployment, settings: Settings) -> dict[str, dict[str, str]]:
    """Per host, its unit files by name."""
    beat = watchdog_s(settings)
    out: dict[str, dict[str, str]] = {}
    for host in deployment.hosts:
        files = {unit_name(s): _service(deployment, host, s, beat) for s in host.services}
        files[target_name(host.name)] = _target(host)
        out[host.name] = files
    return out


def write(out: Path, rendered: dict[str, dict[str, str]]) -> list[Path]:
    """Write ``OUT/HOST/<unit>`` for every host; a ``quantum-*`` unit left there from an
    earlier rendering that no longer runs on that host is removed. The files written."""
    written: list[Path] = []
    for host, files in rendered.items():
        directory = out / host
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("quantum-*"):
            if stale.name not in files and stale.suffix in (".service", ".target"):
                stale.unlink()
        for name, text in files.items():
            path = directory / name
            path.write_text(text)
            written.append(path)
    return written


def _escaped(word: str) -> str:
    """A word of ExecStart= as itself: systemd expands ``%`` specifiers and ``$`` there."""
    return word.replace("%", "%%").replace("$", "$$")


def _environment(name: str, value: str) -> str:
    text = f"{name}={value}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'Environment="{text}"'


def _service(deployment: Deployment, host: HostPlan, service: str, beat: int) -> str:
    command = [deployment.quantum]
    if deployment.settings_file:
        command += ["--config", deployment.settings_file]
    command += ["service", service]
    if service not in NO_EXCHANGE and host.exchange_url:
        command += ["--exchange-url", host.exchange_url]
    user = [f"User={deployment.user}", f"Group={deployment.user}"]
    if deployment.dynamic_user:
        user.append("DynamicUser=yes")  # one name: every unit of the host shares its uid
    environment = [_environment("QUANTUM_DATA_DIR", f"/var/lib/{STATE}")]
    environment += [_environment(k, v) for k, v in sorted(host.environment.items())]
    credentials = [
        f"LoadCredential={name}:{path}"
        for name, path in sorted(host.credentials_of(service).items())
    ]
    network = []
    if host.ip_allow:
        network = ["IPAddressDeny=any", f"IPAddressAllow=localhost {' '.join(host.ip_allow)}"]
    interval, burst = START_LIMIT
    lines = [
        f"# {unit_name(service)} on host {host.name}: rendered by `quantum deploy systemd`;",
        "# edit the hosts file and render again rather than this file.",
        "[Unit]",
        f"Description=Quantum Trader {service} (host {host.name})",
        "After=network-online.target",
        "Wants=network-online.target",
        f"PartOf={target_name(host.name)}",
        f"StartLimitIntervalSec={interval}",
        f"StartLimitBurst={burst}",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_escaped(w) for w in command),
        "Restart=on-failure",
        f"RestartSec={RESTART_S}",
        f"WatchdogSec={beat}",
        f"TimeoutStartSec={START_TIMEOUT_S}",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        *user,
        f"StateDirectory={STATE}",
        "StateDirectoryMode=0700",
        f"WorkingDirectory=/var/lib/{STATE}",
        *environment,
        *credentials,
        *network,
        HARDENING.rstrip("\n"),
        "",
        "[Install]",
        f"WantedBy={target_name(host.name)}",
        "",
    ]
    return "\n".join(lines)


def _target(host: HostPlan) -> str:
    wants = " ".join(unit_name(s) for s in host.services)
    return "\n".join(
        [
            f"# {target_name(host.name)}: every service of host {host.name}; "
            "rendered by `quantum deploy systemd`.",
            "[Unit]",
            f"Description=Quantum Trader services of host {host.name}",
            f"Wants={wants}",
            "After=network-online.target",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
