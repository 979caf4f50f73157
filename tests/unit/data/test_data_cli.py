"""The ``quantum data`` sub-app through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantum_trader.cli.data import app
from quantum_trader.data.binance import load_klines
from quantum_trader.data.funding import load_funding_rates
from tests.unit.data.samples import real_file

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_synth_writes_binance_named_files_and_json(tmp_path: Path) -> None:
    code, out = _run(
        "synth",
        "--symbols",
        "BTCUSDT,ethusdt",
        "--days",
        "2",
        "--start",
        "2024-03-01",
        "--seed",
        "4",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, out
    summary = json.loads(out)
    assert [f["symbol"] for f in summary["files"]] == ["BTCUSDT", "ETHUSDT"]
    btc = tmp_path / "BTCUSDT-1m-2024-03-01_2024-03-02.csv"
    assert summary["files"][0]["path"] == str(btc)
    series = load_klines(btc)
    assert len(series) == 2 * 1440 and series.open_time[0] == 1_709_251_200_000
    funding = load_funding_rates(tmp_path / "BTCUSDT-fundingRate-2024-03-01_2024-03-02.csv")
    assert len(funding) == 6


def test_synth_is_deterministic_byte_for_byte(tmp_path: Path) -> None:
    for run in ("a", "b"):
        code, out = _run("synth", "--symbols", "2", "--days", "1", "--out", str(tmp_path / run))
        assert code == 0, out
    for file in (tmp_path / "a").iterdir():
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes()


def test_synth_parquet_at_an_hourly_interval_with_progress(tmp_path: Path) -> None:
    code, out = _run(
        "synth",
        "--symbols",
        "4",
        "--days",
        "3",
        "--interval",
        "1h",
        "--format",
        "parquet",
        "--no-funding",
        "--out",
        str(tmp_path),
    )
    assert code == 0, out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [  # each with its mark price's bars
        name
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
        for name in (
            f"{symbol}-1h-2024-01-01_2024-01-03.parquet",
            f"{symbol}-markPriceKlines-1h-2024-01-01_2024-01-03.parquet",
        )
    ]
    assert len(load_klines(tmp_path / files[0])) == 72
    assert "BTCUSDT" in out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--symbols", "NOPEUSDT"], "--symbols"),
        (["--symbols", "0"], "--symbols"),
        (["--symbols", "BTCUSDT,BTCUSDT"], "--symbols"),
        (["--days", "0"], "--days"),
        (["--days", "nan"], "--days"),
        (["--start", "yesterday"], "--start"),
        (["--interval", "7x"], "--interval"),
        (["--interval", "1w", "--days", "2"], "--interval"),
        (["--seed", "-1"], "--seed"),
        (["--format", "xlsx"], "--format"),
        (["--correlation", "2"], "--correlation"),
    ],
)
def test_synth_bad_options_name_the_option(tmp_path: Path, args: list[str], option: str) -> None:
    code, out = _run("synth", "--out", str(tmp_path), *args)
    assert code == 2
    assert option in out
    assert "Traceback" not in out


def test_synth_out_must_be_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    code, out = _run("synth", "--out", str(file))
    assert code == 2 and "--out" in out


def test_inspect_reports_gaps_and_repair_as_json() -> None:
    path = real_file("spot/UNITTESTBTC-1m-2017-11-04_2017-11-14.csv")
    code, out = _run("inspect", str(path), "--json", "--repair")
    assert code == 0, out
    (series,) = json.loads(out)["series"]
    assert (series["symbol"], series["interval"], series["rows"]) == ("UNITTESTBTC", "1m", 13681)
    assert (series["gaps"], series["missing_bars"]) == (538, 717)
    assert series["repair"] == {
        "reordered": False,
        "duplicates_dropped": 0,
        "gaps_filled": 538,
        "bars_inserted": 717,
    }
    assert series["price_min"] == pytest.approx(0.00157792)


def test_inspect_prints_a_table_per_symbol(real_dir: Path) -> None:
    code, out = _run("inspect", str(real_dir))
    assert code == 0, out
    for title in ("XRPUSDT 5m", "ETHBTC 5m", "UNITTESTBTC 1m", "XRPETH 1m"):
        assert title in out
    assert "annualised vol" in out


def test_inspect_funding_file() -> None:
    path = real_file("XRPUSDT-fundingRate-2021-11-18_2021-12-18.csv")
    code, out = _run("inspect", str(path), "--json")
    assert code == 0, out
    assert json.loads(out)["funding"][0]["rows"] == 91


def test_inspect_bad_input_is_one_line_with_exit_2(tmp_path: Path) -> None:
    code, out = _run("inspect", str(tmp_path / "missing.csv"))
    assert code == 2 and "does not exist" in out
    bad = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    bad.write_text("0,1,x,1,1,1\n")
    code, out = _run("inspect", str(bad))
    assert code == 2
    assert out.strip().splitlines() == [
        f"error: {bad}: row 1: column high: 'x' is not a number. Fix: correct or delete the row"
    ]
    code, out = _run("inspect", str(tmp_path))
    assert code == 2 and "error:" in out
