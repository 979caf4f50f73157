"""``quantum deploy systemd``: the units of a three-host deployment are ones systemd
accepts (``systemd-analyze verify``, no warning) and each is sandboxed to "OK" or better
(``systemd-analyze security --offline=true``, exposure at most 4.0); secrets go through
``LoadCredential=``, never the unit's environment; a bad hosts file is one line naming
the field."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quantum_trader import cli
from quantum_trader.config import Settings, load_with_sources
from quantum_trader.ops.deploy.hosts import load_hosts
from quantum_trader.ops.deploy.units import render, write

ROOT = Path(__file__).resolve().parents[3]
QUANTUM = ROOT / ".venv" / "bin" / "quantum"  # ExecStart='s binary must exist for verify
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
HOSTS = {
    "trade-a": ["market-feed", "signal-engine", "intent-bridge", "risk-guard", "apply-layer"],
    "trade-b": ["exit-brain", "ledger", "execution-pump", "position-monitor", "circuit-breaker"],
    "ops": ["metrics", "notifier", "watchdog", "dashboard"],
}
UNITS = [(host, service) for host, services in HOSTS.items() for service in services]


def hosts_file(path: Path, extra: str = "") -> Path:
    tables = "\n".join(
        f"[hosts.{h}]\nservices = {s!r}\n".replace("'", '"') for h, s in HOSTS.items()
    )
    path.write_text(
        f"""
[deploy]
quantum = "{QUANTUM}"
exchange_url = "https://fapi.binance.com"
ip_allow = ["10.0.0.0/24"]
[deploy.environment]
QUANTUM_METRICS__HOST = "0.0.0.0"
QUANTUM_TRADING_SYMBOLS = "BTCUSDT,ETHUSDT"
[deploy.credentials]
QUANTUM_REDIS_URL = "/etc/quantum/credentials/redis-url"
QUANTUM_BINANCE_API_KEY = "/etc/quantum/credentials/binance-api-key"
QUANTUM_BINANCE_API_SECRET = "/etc/quantum/credentials/binance-api-secret"
{extra}
{tables}
[hosts.ops.credentials]
QUANTUM_NOTIFY__TARGETS = "/etc/quantum/credentials/notify-targets.json"
"""
    )
    return path


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(ANALYZE).exists():
        pytest.fail("systemd-analyze is missing: scripts/ensure-tools.sh installs it")
    if not QUANTUM.exists():
        pytest.fail(f"{QUANTUM} is missing: the units run this checkout's quantum")
    home = tmp_path_factory.mktemp("deploy")
    out = home / "units"
    write(out, render(load_hosts(hosts_file(home / "hosts.toml")), Settings()))
    return out


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60)


def unit_text(units: Path, host: str, service: str) -> str:
    return (units / host / f"quantum-{service}.service").read_text()


@pytest.mark.parametrize("host", list(HOSTS))
def test_systemd_accepts_every_unit_of_a_host_without_a_warning(units: Path, host: str) -> None:
    files = sorted(str(p) for p in (units / host).iterdir())
    assert [Path(f).name for f in files] == sorted(
        [f"quantum-{host}.target", *(f"quantum-{s}.service" for s in HOSTS[host])]
    )
    checked = analyze("verify", "--man=no", *files)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "", checked.stderr  # verify warns and still says 0


@pytest.mark.parametrize(("host", "service"), UNITS, ids=[f"{h}/{s}" for h, s in UNITS])
def test_each_unit_is_sandboxed_to_ok(units: Path, host: str, service: str) -> None:
    path = units / host / f"quantum-{service}.service"
    rated = analyze("security", "--offline=true", "--threshold=40", str(path))
    assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", rated.stdout)
    assert found is not None, rated.stdout[-500:]
    assert float(found.group(1)) <= 4.0, found.group(0)


def test_what_each_unit_carries(units: Path) -> None:
    feed = unit_text(units, "trade-a", "market-feed")
    assert "Type=notify\n" in feed and "NotifyAccess=main\n" in feed
    assert "WatchdogSec=10\n" in feed  # two heartbeat TTLs of the default settings
    assert "Restart=on-failure\n" in feed and "StartLimitBurst=" in feed
    assert (
        f"ExecStart={QUANTUM} service market-feed --exchange-url https://fapi.binance.com\n" in feed
    )
    assert "User=quantum\nGroup=quantum\nDynamicUser=yes\n" in feed
    assert "StateDirectory=quantum\n" in feed
    assert 'Environment="QUANTUM_DATA_DIR=/var/lib/quantum"\n' in feed
    assert "LoadCredential=QUANTUM_BINANCE_API_SECRET:/etc/quantum/credentials/" in feed
    assert "IPAddressDeny=any\nIPAddressAllow=localhost 10.0.0.0/24\n" in feed
    assert "PartOf=quantum-trade-a.target\n" in feed
    for service in ("notifier", "watchdog", "dashboard"):  # no exchange: no URL, no keys
        text = unit_text(units, "ops", service)
        assert "--exchange-url" not in text and "QUANTUM_BINANCE" not in text
        assert "LoadCredential=QUANTUM_REDIS_URL:" in text
    metrics = unit_text(units, "ops", "metrics")
    assert (
        "--exchange-url https://fapi.binance.com" in metrics
        and "QUANTUM_BINANCE_API_KEY" in metrics
    )
    for host, service in UNITS:  # secrets only as credentials
        environment = [
            line for line in unit_text(units, host, service).splitlines()
            if line.startswith("Environment=")
        ]  # fmt: skip
        assert not any("REDIS_URL" in e or "BINANCE" in e or "NOTIFY" in e for e in environment)
    target = (units / "ops" / "quantum-ops.target").read_text()
    assert "Wants=quantum-metrics.service quantum-notifier.service" in target
    assert "WantedBy=multi-user.target" in target


def test_a_host_with_a_user_of_its_own_verifies_too(tmp_path: Path) -> None:
    path = hosts_file(tmp_path / "hosts.toml")
    own = '[deploy]\ndynamic_user = false\nsettings = "/etc/quantum/quantum.toml"\n'
    path.write_text(path.read_text().replace("[deploy]\n", own))
    write(tmp_path / "out", render(load_hosts(path), Settings()))
    text = unit_text(tmp_path / "out", "trade-b", "ledger")
    assert "DynamicUser" not in text and "User=quantum\n" in text
    assert f"ExecStart={QUANTUM} --config /etc/quantum/quantum.toml service ledger" in text
    checked = analyze(
        "verify", "--man=no", str(tmp_path / "out" / "trade-b" / "quantum-ledger.service")
    )
    assert checked.returncode == 0 and checked.stderr.strip() == "", checked.stderr


runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("QUANTUM_", "TRADING_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def test_the_command_writes_a_directory_per_host_and_removes_what_moved(tmp_path: Path) -> None:
    path = hosts_file(tmp_path / "hosts.toml")
    out = tmp_path / "out"
    (out / "ops").mkdir(parents=True)
    (out / "ops" / "quantum-ledger.service").write_text("# moved to trade-b\n")
    config = str(write_settings(tmp_path))
    done = quantum("--config", config, "deploy", "systemd", "--hosts", str(path), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(HOSTS)
    assert not (out / "ops" / "quantum-ledger.service").exists()
    assert "WatchdogSec=4\n" in unit_text(out, "ops", "watchdog")  # from --config's TTL
    assert "systemctl enable --now quantum-HOST.target" in done.stderr


def test_the_command_warns_of_a_service_no_host_runs(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(
        '[deploy]\nquantum = "/opt/q/bin/quantum"\nexchange_url = "http://x:1"\n'
        '[deploy.credentials]\nQUANTUM_REDIS_URL = "/etc/r"\n'
        '[hosts.a]\nservices = ["signal-engine", "apply-layer", "exit-brain"]\n'
    )
    done = quantum("deploy", "systemd", "--hosts", str(path), "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    warning = next(line for line in done.stderr.splitlines() if line.startswith("warning"))
    assert "ledger" in warning and "watchdog" in warning and "intent-bridge" in warning
    assert "signal-engine" not in warning and "apply-layer" not in warning
    full = quantum("deploy", "systemd", "--hosts", str(hosts_file(tmp_path / "all.toml")),
                   "--out", str(tmp_path / "all"))  # fmt: skip
    assert full.exit_code == 0 and "warning" not in full.stderr, full.stderr


def write_settings(tmp_path: Path) -> Path:
    path = tmp_path / "quantum.toml"
    path.write_text("[quantum]\nheartbeat_interval_ms = 500\nheartbeat_ttl_ms = 2000\n")
    return path


BAD = {
    "missing": (None, "does not exist"),
    "bad TOML": ("[deploy\n", "is not valid TOML"),
    "unknown service": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\nexchange_url = "http://x:1"\n'
        '[deploy.credentials]\nQUANTUM_REDIS_URL = "/etc/r"\n'
        '[hosts.a]\nservices = ["ledgr"]\n',
        "hosts.a.services: 'ledgr' is not a service",
    ),
    "twice on a host": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\nexchange_url = "http://x:1"\n'
        '[deploy.credentials]\nQUANTUM_REDIS_URL = "/etc/r"\n'
        '[hosts.a]\nservices = ["ledger", "watchdog", "ledger"]\n',
        "hosts.a.services: 'ledger' is listed twice",
    ),
    "unknown field": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\n[hosts.a]\nservices = ["watchdog"]\nport = 1\n',
        "hosts.a.port: unknown field",
    ),
    "no executable": ('[hosts.a]\nservices = ["watchdog"]\n', "deploy: required"),
    "relative executable": (
        '[deploy]\nquantum = "bin/quantum"\n[hosts.a]\nservices = ["watchdog"]\n',
        "deploy.quantum: 'bin/quantum' must be an absolute path",
    ),
    "no exchange": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\n'
        '[deploy.credentials]\nQUANTUM_REDIS_URL = "/etc/r"\n'
        '[hosts.a]\nservices = ["watchdog", "apply-layer"]\n',
        "hosts.a.exchange_url (or deploy.exchange_url): required, a runs apply-layer",
    ),
    "a secret in the environment": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\n[deploy.environment]\n'
        'QUANTUM_BINANCE_API_SECRET = "s3cret"\n[hosts.a]\nservices = ["watchdog"]\n',
        "deploy.environment.QUANTUM_BINANCE_API_SECRET: a secret: put it in credentials",
    ),
    "not a setting": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\n[deploy.credentials]\nQUANTUM_NOPE = "/etc/n"\n'
        '[hosts.a]\nservices = ["watchdog"]\n',
        "deploy.credentials.QUANTUM_NOPE: not a setting's variable",
    ),
    "no redis": (
        '[deploy]\nquantum = "/opt/q/bin/quantum"\n[hosts.a]\nservices = ["watchdog"]\n',
        "hosts.a: no Redis",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_hosts_file_is_one_line_naming_the_field(tmp_path: Path, case: str) -> None:
    text, words = BAD[case]
    path = tmp_path / "hosts.toml"
    if text is not None:
        path.write_text(text)
    result = quantum("deploy", "systemd", "--hosts", str(path), "--out", str(tmp_path / "out"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: hosts file "), lines
    assert words in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_settings_read_a_units_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What LoadCredential= places in $CREDENTIALS_DIRECTORY: one file per setting,
    named like its variable; `quantum config show` says where each came from."""
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "QUANTUM_BINANCE_API_KEY").write_text("key-from-a-file\n")
    target = '{"ops": {"kind": "generic", "url": "https://h.example/x"}}'
    (directory / "QUANTUM_NOTIFY__TARGETS").write_text(target)
    (directory / "unrelated").write_text("ignored")
    settings, sources = load_with_sources(credentials_directory=directory)
    assert settings.binance_api_key is not None
    assert settings.binance_api_key.get_secret_value() == "key-from-a-file"
    assert settings.notify.targets["ops"].url.get_secret_value() == "https://h.example/x"
    assert sources["binance_api_key"] == f"credentials {directory}"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))  # as systemd sets it
    shown = quantum("config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert "key-from-a-file" not in shown.output  # a secret stays masked
    assert f"credentials {directory}" in shown.output
