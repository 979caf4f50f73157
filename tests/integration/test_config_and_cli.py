"""Settings from file and environment, one-line errors, masked secrets, and the embedded
Redis commands, through the real `quantum` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader import cli
from quantum_trader.config import ConfigError, load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "QUANTUM_REDIS_URL",
        "TRADING_SYMBOLS",
        "QUANTUM_TRADING_SYMBOLS",
        "QUANTUM_BINANCE_API_KEY",
        "QUANTUM_BINANCE_API_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


def test_environment_beats_the_file_and_trading_symbols_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "q.toml"
    toml.write_text('[quantum]\nread_batch = 50\ntrading_symbols = ["ethusdt"]\n')
    assert load_settings(toml).read_batch == 50
    assert load_settings(toml).trading_symbols == ("ETHUSDT",)
    monkeypatch.setenv("QUANTUM_READ_BATCH", "70")
    monkeypatch.setenv("TRADING_SYMBOLS", "btcusdt, solusdt")
    settings = load_settings(toml)
    assert settings.read_batch == 70 and settings.trading_symbols == ("BTCUSDT", "SOLUSDT")


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("QUANTUM_MODE", "livee", "invalid setting mode (env QUANTUM_MODE) = 'livee'"),
        ("QUANTUM_READ_BATCH", "zero", "invalid setting read_batch"),
        ("TRADING_SYMBOLS", "BTC-USDT", "must be letters and digits"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value) and "\n" not in str(err.value)
    result = runner.invoke(cli.app, ["config", "show"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error:" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[quantum.sizing]\nleverage = 500\n", "invalid setting sizing.leverage (file {f}) = 500"),
        ("[quantum.sizing]\nrisk_pcnt = 1\n", "unknown setting 'sizing.risk_pcnt' (file {f})"),
    ],
)
def test_a_bad_setting_from_a_file_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    assert expected.format(f=toml) in str(err.value) and "env QUANTUM" not in str(err.value)
    result = runner.invoke(cli.app, ["--config", str(toml), "config", "show"])
    assert result.exit_code == 2 and "bad.toml" in result.output


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTUM_BINANCE_API_KEY", "real-key-123")
    monkeypatch.setenv("QUANTUM_BINANCE_API_SECRET", "real-secret-456")
    monkeypatch.setenv("QUANTUM_REDIS_URL", "redis://user:hunter2@db.internal:6379/0")
    result = runner.invoke(cli.app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = {name: row["value"] for name, row in json.loads(result.output).items()}
    assert shown["binance_api_key"] == "****" and shown["binance_api_secret"] == "****"
    assert shown["redis_url"] == "redis://****@db.internal:6379/0"
    assert "real-key-123" not in result.output and "hunter2" not in result.output


def test_config_show_lists_every_value_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "quantum.toml"
    config.write_text("[quantum.sizing]\nleverage = 3\nrisk_pct = 0.002\n")
    monkeypatch.setenv("QUANTUM_SIZING__RISK_PCT", "0.01")
    args = ["--config", str(config), "--log-level", "ERROR", "config", "show", "--json"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["sizing.leverage"] == {
        "value": 3,
        "source": f"file {config}",
        "env": "QUANTUM_SIZING__LEVERAGE",
    }
    assert (
        shown["sizing.risk_pct"]["value"] == "0.01" and shown["sizing.risk_pct"]["source"] == "env"
    )
    assert shown["log_level"] == {"value": "ERROR", "source": "cli", "env": "QUANTUM_LOG_LEVEL"}
    assert shown["gate.max_open_positions"]["source"] == "default"
    assert shown["exits.kill.threshold"]["env"] == "QUANTUM_EXITS__KILL__THRESHOLD"


def test_redis_start_status_stop_manage_a_real_embedded_server() -> None:
    started = runner.invoke(cli.app, ["redis", "start"])
    assert started.exit_code == 0, started.output
    try:
        status = json.loads(runner.invoke(cli.app, ["redis", "status", "--json"]).output)
        assert status["running"] is True and status["url"].startswith("redis://127.0.0.1:")
        again = runner.invoke(cli.app, ["redis", "start"])
        assert "already running" in again.output
    finally:
        stopped = runner.invoke(cli.app, ["redis", "stop"])
    assert "stopped" in stopped.output
    assert (
        json.loads(runner.invoke(cli.app, ["redis", "status", "--json"]).output)["running"] is False
    )


def test_help_and_version_work_for_every_command() -> None:
    assert "quantum-trader" in runner.invoke(cli.app, ["version"]).output
    for command in (
        ["--help"],
        ["run", "--help"],
        ["backtest", "--help"],
        ["status", "--help"],
        ["data", "--help"],
        ["kill-switch", "--help"],
        ["sim-exchange", "--help"],
        ["redis", "--help"],
        ["config", "--help"],
    ):
        result = runner.invoke(cli.app, command)
        assert result.exit_code == 0, (command, result.output)
