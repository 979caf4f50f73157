"""What a user gets wrong ends in one line naming the option or setting and the fix —
never a traceback — through the real ``quantum`` command line (typer's CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from redis.exceptions import ConnectionError as RedisConnectionError
from typer.testing import CliRunner, Result

from quantum_trader import cli

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QUANTUM_REDIS_URL", "TRADING_SYMBOLS", "QUANTUM_TRADING_SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def one_line_error(result: Result, code: int, *words: str) -> str:
    """The result failed with ``code`` and exactly one stderr line holding ``words``."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("command", [["status"], ["kill-switch", "status"], ["config", "show"]])
def test_a_malformed_redis_url_says_what_a_url_looks_like(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("QUANTUM_REDIS_URL", "nonsense")
    line = one_line_error(quantum(*command), 2, "QUANTUM_REDIS_URL", "'nonsense'")
    assert "redis://" in line and "127.0.0.1:6379" in line


def test_a_url_with_a_password_is_masked_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTUM_REDIS_URL", "redis://:hunter2@db.internal:notaport/0")
    line = one_line_error(quantum("status"), 2, "QUANTUM_REDIS_URL", "****@db.internal")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("command", "lead"),
    [(["status"], "cannot reach Redis"), (["kill-switch", "status"], "cannot talk to Redis")],
)
def test_an_unreachable_redis_is_one_line_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, command: list[str], lead: str
) -> None:
    monkeypatch.setenv("QUANTUM_REDIS_URL", "redis://127.0.0.1:1/0")
    one_line_error(quantum(*command), 2, lead, "127.0.0.1", "quantum redis start")


@pytest.mark.parametrize("kind", ["proc", "file"])
def test_an_unusable_data_dir_names_quantum_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    if kind == "proc":
        bad = Path("/proc/nope")
        if not Path("/proc").is_dir():
            pytest.skip("no /proc on this system")
    else:
        bad = tmp_path / "a-file"
        bad.write_text("not a directory")
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(bad))
    one_line_error(quantum("redis", "start"), 2, f"QUANTUM_DATA_DIR={bad}", "writable directory")


def test_the_root_turns_os_and_redis_errors_from_any_command_into_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    app = typer.Typer(cls=cli.OneLineErrors)

    @app.command("journal")
    def journal() -> None:
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "var" / "x.db"))

    @app.command("elsewhere")
    def elsewhere() -> None:
        raise PermissionError(13, "Permission denied", "/etc/shadow")

    @app.command("bus")
    def bus() -> None:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    one_line_error(runner.invoke(app, ["journal"]), 2, "QUANTUM_DATA_DIR=", "x.db")
    one_line_error(runner.invoke(app, ["elsewhere"]), 1, "/etc/shadow", "Permission denied")
    one_line_error(runner.invoke(app, ["bus"]), 2, "cannot reach Redis", "QUANTUM_REDIS_URL")
    one_line_error(runner.invoke(app, ["journal", "--bogus"]), 2, "--bogus", "-h")


@pytest.mark.parametrize("source", [["--synthetic"], ["--data", "DATA"]])
@pytest.mark.parametrize("days", ["0", "-3"])
def test_backtest_refuses_days_that_are_not_positive(
    source: list[str], days: str, tmp_path: Path
) -> None:
    if "DATA" in source:
        data = tmp_path / "data"
        assert (
            quantum(
                "data", "synth", "--symbols", "BTCUSDT", "--days", "1", "--out", str(data)
            ).exit_code
            == 0
        )
        source = ["--data", str(data)]
    result = quantum("backtest", *source, "--days", days, "--symbols", "BTCUSDT")
    one_line_error(result, 2, "--days")
    assert f"must be positive, got {days}" in result.output


def test_a_file_without_a_dump_name_is_named_by_the_options_each_command_has(
    tmp_path: Path,
) -> None:
    export = tmp_path / "export.csv"
    export.write_text("open_time,open,high,low,close,volume\n0,1,1,1,1,1\n")
    run = quantum("run", "--data", str(export))
    one_line_error(run, 2, "rename it like BTCUSDT-1m")
    assert "--symbol" not in run.output and run.output.count(str(export)) == 1
    backtest = quantum("backtest", "--data", str(export))
    one_line_error(backtest, 2, "or pass --symbol and --interval")


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_run_refuses_a_duration_that_is_not_a_finite_number(value: str) -> None:
    one_line_error(quantum("run", "--duration", value), 2, "--duration")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--interval", "7m"], ["--interval", "'7m'", "1m, 3m, 5m"]),
        (["--symbols", ""], ["--symbols", "comma list"]),
        (["--symbols", " , "], ["--symbols", "comma list"]),
        (["--out", "/proc/x"], ["--out", "/proc/x"]),
    ],
)
def test_data_synth_bad_options(args: list[str], words: list[str], tmp_path: Path) -> None:
    if "/proc/x" in args and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    base = ["data", "synth", "--days", "1", "--out", str(tmp_path / "out")]
    one_line_error(quantum(*base, *args), 2, *words)


def test_data_synth_out_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = quantum("data", "synth", "--days", "1", "--out", str(tmp_path / "f"))
    one_line_error(result, 2, "--out", "not a directory")


@pytest.mark.parametrize("where", ["proc", "missing-dir", "directory"])
def test_backtest_and_chaos_check_json_before_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    path = {
        "proc": "/proc/x.json",
        "missing-dir": str(tmp_path / "nowhere" / "x.json"),
        "directory": str(tmp_path),
    }[where]
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")

    def must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("the run started before --json was checked")

    monkeypatch.setattr("quantum_trader.cli.backtest.run_backtest", must_not_run)
    monkeypatch.setattr("quantum_trader.ops.chaos.run.ChaosRun", must_not_run)
    backtest = quantum("backtest", "--strategy", "breakout", "--synthetic", "--json", path)
    one_line_error(backtest, 2, "--json", path)
    one_line_error(quantum("chaos", "--json", path), 2, "--json", path)
    assert not Path(path).is_file() or where == "directory"


def test_writable_json_check_leaves_no_file_behind(tmp_path: Path) -> None:
    from quantum_trader.cli.checks import writable_output

    target = tmp_path / "out.json"
    assert writable_output(target, "--json") == target
    assert not target.exists()
    target.write_text("keep")
    writable_output(target, "--json")
    assert target.read_text() == "keep"
    assert writable_output(None, "--json") is None


def test_chaos_refuses_empty_faults_and_infinite_hours() -> None:
    one_line_error(quantum("chaos", "--faults", ""), 2, "--faults", "'all'")
    one_line_error(quantum("chaos", "--hours", "inf"), 2, "--hours")


def test_quantum_mode_selects_the_mode_of_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUANTUM_BINANCE_API_KEY", "QUANTUM_BINANCE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_MODE", "demo")
    one_line_error(quantum("run", "--duration", "0.01"), 2, "demo", "QUANTUM_BINANCE_API_KEY")
    monkeypatch.setenv("QUANTUM_MODE", "live")
    one_line_error(quantum("run", "--duration", "0.01"), 2, "--i-understand-live")
    monkeypatch.setenv("QUANTUM_MODE", "backtest")
    one_line_error(quantum("run", "--duration", "0.01"), 2, "quantum backtest")


def test_log_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        monkeypatch.setenv("QUANTUM_LOG_LEVEL", "INFO")
        monkeypatch.setenv("QUANTUM_LOG_JSON", "true")
        assert quantum("version").exit_code == 0
        assert root.level == logging.INFO
        formatter = root.handlers[0].formatter
        assert formatter is not None and "JSONRenderer" in repr(formatter.processors)  # type: ignore[attr-defined]
        assert quantum("--log-level", "ERROR", "version").exit_code == 0
        assert root.level == logging.ERROR  # the flag over the environment
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_a_metrics_port_in_use_or_out_of_range_is_refused_before_the_run() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        one_line_error(
            quantum("run", "--duration", "0.01", "--metrics-port", port),
            2,
            "--metrics-port",
            "not free",
        )
    one_line_error(
        quantum("run", "--duration", "0.01", "--metrics-port", "70000"), 2, "--metrics-port"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [("nope", ("unknown 'nope'", "trend_ema")), ("breakout,breakout", ("appear once",))],
)
@pytest.mark.parametrize("command", [["run", "--duration", "0.1"], ["backtest", "--synthetic"]])
def test_a_bad_strategy_setting_is_one_line_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, command: list[str], value: str, words: tuple[str, ...]
) -> None:
    """Before: `quantum run` started every service and died with a traceback ("no
    heartbeat from signal-engine"); `quantum backtest` blamed --param."""
    monkeypatch.setenv("QUANTUM_STRATEGIES__NAMES", value)
    one_line_error(quantum(*command), 2, "QUANTUM_STRATEGIES__NAMES", *words)
