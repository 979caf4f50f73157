"""`quantum run` end to end: every service against the simulated exchange over its HTTP
front through ccxt, and a JSON summary whose invariants come from the exchange's history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

KEYS = {
    "mode",
    "market_hours",
    "symbols",
    "entries",
    "exits_by_reason",
    "skipped_by_reason",
    "realized_pnl",
    "fees",
    "funding",
    "open_positions",
    "dead_letters",
    "restarts",
    "reconcile_repairs",
    "invariants",
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


def test_every_service_as_its_own_process_trades_and_passes_the_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantum_trader import cli

    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    cli._mount_optional()
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli.app,
        ["run", "--processes", "--symbol-count", "3", "--duration", "0.5", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["faults_total"] == 0 and report["violations_total"] == 0
    assert report["trades"]["entry_orders"] >= 1
