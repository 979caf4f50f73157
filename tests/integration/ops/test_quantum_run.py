"""`quantum run` end to end: every service against the simulated exchange over its HTTP
front through ccxt, and a JSON summary whose invariants come from the exchange's history."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.infra.embedded_redis import free_port
from tests.integration.ops.run_process import start, stop, wait_for_bars, wait_for_run

KEYS = {
    "settings",  # the effective settings, secrets masked
    "mode",
    "market_hours",
    "symbols",
    "entries",
    "exits_by_reason",
    "skipped_by_reason",
    "intents_rejected_by_reason",
    "starting_balance",
    "ending_equity",
    "realized_pnl",
    "fees",
    "funding",
    "net_pnl",
    "open_positions",
    "dead_letters",
    "restarts",
    "reconcile_repairs",
    "invariants",
    "run_id",
    "stopped_early",
    "market_minutes_run",
    "request_weight_peak",
    "funding_source",  # the funding rates the venue settled
    "mark_source",  # the mark price the venue walked (synthetic for the built-in market)
    "trades",
    "models",  # the signal models that served (empty without the model strategy)
}


def test_a_short_paper_run_trades_and_passes_every_invariant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantum_trader import cli

    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        cli.app,
        ["run", "--symbol-count", "4", "--duration", "2", "--seed", "7", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert set(summary) == KEYS
    assert summary["mode"] == "paper" and summary["symbols"] == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "BNBUSDT",
    ]
    assert summary["entries"] >= 1
    assert summary["invariants"] == {
        "duplicate_entries": 0,
        "max_unprotected_seconds": 0.0,
        "ledger_mismatches": 0,
        "unexecuted_exits": 0,
        "reduce_only_growth": 0,
    }
    assert summary["dead_letters"] == 0 and summary["restarts"] == 0
    assert (tmp_path / "var" / "journal.sqlite").exists()


def test_every_service_as_its_own_process_reports_like_a_run_and_is_seen_by_status(
    tmp_path: Path,
) -> None:
    var, out, port = tmp_path / "var", tmp_path / "summary.json", free_port()
    env = {"QUANTUM_DATA_DIR": str(var)}
    # Long enough that the run is still up while status and /health are asked, on a
    # loaded machine too (both ask the live run).
    args = ["run", "--processes", "--symbol-count", "3", "--duration", "1.5"]
    proc = start([*args, "--json", str(out), "--metrics-port", str(port)], env, tmp_path)
    try:
        info = wait_for_run(proc, var)
        try:
            wait_for_bars(info["redis_url"], info["key_prefix"], 3 * 5)
        except AssertionError as exc:
            out_text, err_text = stop(proc)
            shown = f"\nstdout: {out_text[-3000:]}\nstderr: {err_text[-3000:]}"
            raise AssertionError(f"{exc}{shown}") from exc
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as health:
            assert json.loads(health.read())["services"]["apply-layer"]["alive"] is True
        status = start(["status", "--json"], env, tmp_path)
        seen, _ = status.communicate(timeout=60)
        assert status.returncode == 0, seen
        assert set(json.loads(seen)["services"]) >= {"apply-layer", "exit-brain", "ledger"}
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            stop(proc)
    assert proc.returncode == 0, stderr
    summary = json.loads(out.read_text())
    assert set(summary) >= KEYS
    assert summary["entries"] >= 1 and not any(summary["checker_violations"].values())
    assert summary["invariants"] == {
        "duplicate_entries": 0,
        "max_unprotected_seconds": 0.0,
        "ledger_mismatches": 0,
        "unexecuted_exits": 0,
        "reduce_only_growth": 0,
    }
