"""``quantum backtest --lookahead-check`` through the real command line: a strategy whose
column form peeks at the next bar's close is caught (exit code 1, the signal named by
strategy, symbol and bar time), a built-in passes (exit code 0), a trained model's
features pass and one that reads the next bar is caught, bad options end in one line
naming the option."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import quantum_trader.model.dataset as dataset
from quantum_trader import cli
from quantum_trader.domain.enums import PositionSide
from quantum_trader.features import FeatureFrame
from quantum_trader.model.registry import Registry
from quantum_trader.strategies import Bar, Signal, SignalSide, Strategy, StrategyState, register
from quantum_trader.strategies.rebuilt import Columns, SeriesSignals, bar_at
from tests.integration.model.models import SYMBOLS, trained
from tests.integration.test_cli_errors import one_line_error

runner = CliRunner()
RISE = 0.0005  # a close this far above the one before
FEATURES = {"regime": 0.0, "signal_strength": 1.0, "volatility_ratio": 1.0}


@pytest.fixture(autouse=True)
def _mounted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


@dataclass(frozen=True, slots=True, kw_only=True)
class PeekState(StrategyState):
    prev_close: float = math.nan


@register("peeks_next_close")
class PeeksNextClose(Strategy[PeekState]):
    """LONG on a bar that closed ``RISE`` above the one before. Its bar-by-bar form is
    right; its column form compares the *next* close with this one — the off-by-one
    that makes a backtest look prophetic."""

    def __init__(self) -> None:
        self.warmup = 1

    def initial_state(self, symbol: str) -> PeekState:
        return PeekState(symbol=symbol)

    def _signal(self, bar: Bar) -> Signal:
        return self.signal(bar, PositionSide.LONG, confidence=0.9,
                           stop_distance=bar.close * 0.01, features=FEATURES)  # fmt: skip

    def advance(self, state: PeekState, bar: Bar) -> tuple[PeekState, Signal | None]:
        rose = bar.close > state.prev_close * (1 + RISE)
        return replace(state, prev_close=bar.close), self._signal(bar) if rose else None

    def series_signals(self, symbol: str, interval: str, columns: Columns) -> SeriesSignals:
        close = columns[4]
        rises = np.zeros(close.size, np.bool_)
        rises[:-1] = close[1:] > close[:-1] * (1 + RISE)  # the next bar's close: a lookahead
        rises[: self.warmup] = False
        sides: dict[int, SignalSide] = {
            i: PositionSide.LONG for i in np.flatnonzero(rises).tolist()
        }
        return sides, lambda i: self._signal(bar_at(symbol, interval, columns, i))


def checked(tmp_path: Path, strategy: str, code: int) -> dict[str, Any]:
    out = tmp_path / "run.json"
    result = quantum("backtest", "--strategy", strategy, "--synthetic", "--symbols", "BTCUSDT",
                     "--days", "1", "--lookahead-check", "--json", str(out))  # fmt: skip
    assert result.exit_code == code, result.output
    assert "Lookahead check" in result.stdout
    lookahead: dict[str, Any] = json.loads(out.read_text())["lookahead"]
    return lookahead


def test_a_strategy_that_peeks_at_the_next_close_is_caught(tmp_path: Path) -> None:
    lookahead = checked(tmp_path, "peeks_next_close", 1)
    assert lookahead["clean"] is False and lookahead["checked"] > 0
    changed = lookahead["changed"]
    assert {c["check"] for c in changed} == {"truncated", "bar_by_bar"}
    first = next(c for c in changed if c["check"] == "truncated")
    assert first["strategy"] == "peeks_next_close" and first["symbol"] == "BTCUSDT"
    assert first["name"] == "side" and first["full"] == "LONG" and first["truncated"] is None
    assert first["bar_time"].endswith("Z") and first["bar_time"].startswith("2024-01-01T")
    assert lookahead["changed_total"] >= len(changed)
    (coverage,) = lookahead["strategies"]
    assert coverage["strategy"] == "peeks_next_close" and coverage["truncations"] > 0


def test_a_built_in_strategy_passes(tmp_path: Path) -> None:
    lookahead = checked(tmp_path, "trend_ema", 0)
    assert lookahead["clean"] is True and lookahead["changed"] == []
    (coverage,) = lookahead["strategies"]
    assert coverage["signals"] > 0 and coverage["bar_by_bar"] == coverage["signals"]
    assert lookahead["checked"] == min(coverage["signals"], 20)


def test_bad_report_and_lookahead_options_name_the_option(tmp_path: Path) -> None:
    base = ("backtest", "--strategy", "trend_ema", "--synthetic", "--symbols", "BTCUSDT",
            "--days", "1")  # fmt: skip
    html = str(tmp_path / "r.html")
    one_line_error(quantum(*base, "--lookahead-samples", "-1"), 2, "--lookahead-samples")
    one_line_error(
        quantum(*base, "--report", html, "--report-window", "2024-01-02"), 2,
        "--report-window", "START/END",
    )  # fmt: skip
    one_line_error(
        quantum(*base, "--report", html, "--report-window", "2024-01-05/2024-01-02"), 2,
        "--report-window", "after the start",
    )  # fmt: skip
    one_line_error(
        quantum(*base, "--report", html, "--report-window", "2025-01-01/2025-01-08"), 2,
        "--report-window", "holds none of the bars",
    )  # fmt: skip
    one_line_error(
        quantum(*base, "--report", html, "--report-symbol", "ETHUSDT"), 2,
        "--report-symbol", "ETHUSDT is not in this run", "BTCUSDT",
    )  # fmt: skip
    one_line_error(quantum(*base, "--report-symbol", "BTCUSDT"), 2, "--report-symbol", "--report")


def next_bar_rsi(real: Any) -> Any:
    def compute(series: Any, funding: Any = None, spec: Any = None) -> FeatureFrame:
        frame: FeatureFrame = real(series, funding, spec) if spec else real(series, funding)
        values = frame.values.copy()
        k = frame.names.index("rsi_14")
        values[:-1, k] = values[1:, k]  # the next bar's RSI: a lookahead
        return FeatureFrame(frame.symbol, frame.open_time, frame.names, values)

    return compute


def test_the_model_s_features_pass_and_a_feature_reading_the_next_bar_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained(Registry(tmp_path / "var" / "models"), seed=3)  # a real model, in seconds
    out = tmp_path / "model.json"
    args = ("backtest", "--strategy", "model", "--synthetic", "--symbols", ",".join(SYMBOLS),
            "--days", "2", "--lookahead-check", "--lookahead-samples", "6",
            "--json", str(out))  # fmt: skip
    result = quantum(*args)
    assert result.exit_code == 0, result.output
    lookahead = json.loads(out.read_text())["lookahead"]
    (coverage,) = lookahead["strategies"]
    assert lookahead["clean"] and coverage["strategy"] == "model" and coverage["symbol"] is None
    assert coverage["features"] > 10 and coverage["truncations"] == 6
    assert coverage["bar_by_bar"] == 3 * 2 * 1440
    monkeypatch.setattr(dataset, "compute", next_bar_rsi(dataset.compute))
    result = quantum(*args)
    assert result.exit_code == 1, result.output
    changed = json.loads(out.read_text())["lookahead"]["changed"]
    features = {c["name"] for c in changed if c["kind"] == "feature"}
    assert "rsi_14" in features and features <= {"rsi_14", "xs_rank_rsi_14", "xs_z_rsi_14"}
    assert {c["symbol"] for c in changed} == set(SYMBOLS)
