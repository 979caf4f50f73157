"""``quantum model drift``: has the market moved away from what a model learned?

Scores new bars with a registered model (default: the promoted one) and compares them
with what it was trained on: per feature, the population-stability index against the
training distribution kept in its card; and its hit rate on the new bars against its
out-of-sample hit rate, with a one-sided binomial test (:mod:`quantum_trader.model.drift`;
limits: ``model.drift.*``). A scheduled job runs it on the latest data and retrains
(``quantum model train``) when it reports drift or decay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.backtest.runner import InputError
from quantum_trader.cli.context import fail, settings
from quantum_trader.cli.train import load_market
from quantum_trader.data import DataError, interval_ms
from quantum_trader.model import drift as drifts
from quantum_trader.model.dataset import build_dataset
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.registry import ModelError, Registry
from quantum_trader.model.scorer import load_scorer

console = Console()


def drift_command(
    model_id: Annotated[
        str | None, typer.Argument(help="A model id or unique prefix (default: the promoted).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="New kline files: a Binance dump, a directory, Parquet.")
    ] = None,
    synthetic: Annotated[bool, typer.Option(help="Check on a seeded synthetic market.")] = False,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    days: Annotated[
        int | None, typer.Option(help="Synthetic: days to generate; files: the last N days.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of a synthetic market.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Feature drift (PSI) and edge decay (hit rate) of a model on new bars."""
    s = settings()
    registry = Registry(Path(s.data_dir) / "models")
    try:
        chosen = model_id or registry.promoted()
        if not chosen:
            raise ModelError("no model is promoted: name one (quantum model list)")
        card, scorer = load_scorer(registry, chosen)
        reference = card.evidence.get("drift_reference")
        if not isinstance(reference, dict):
            raise ModelError(f"{card.model_id} has no training distribution: retrain it")
        series, funding, _, _ = load_market(
            s, data, synthetic, symbols, card.interval, days, None, None, seed
        )
        barrier = BarrierConfig(
            float(card.barrier["take_profit_atr"]),
            float(card.barrier["stop_atr"]),
            int(card.barrier["horizon_bars"]),
        )
        new = build_dataset(series, barrier, funding)
    except (InputError, DataError) as exc:
        raise fail(str(exc)) from None
    except ModelError as exc:
        raise fail(str(exc)) from None
    try:
        psi, missing = drifts.feature_drift(reference, new.features, new.names)
    except (ValueError, TypeError, KeyError) as exc:
        raise fail(f"{card.model_id}: {exc}; retrain it (quantum model train)") from None
    p_long, p_short = scorer.probabilities(new.features, new.time)
    score, forward = p_long - p_short, new.forward_return
    apart = (new.time // interval_ms(new.interval)) % barrier.horizon_bars == 0
    called = apart & (score != 0) & (forward != 0) & np.isfinite(score) & np.isfinite(forward)
    hits, trials = (
        int((np.sign(score[called]) == np.sign(forward[called])).sum()),
        int(called.sum()),
    )
    expected = card.evidence.get("oos", {}).get("hit_rate")
    expected = float(expected) if isinstance(expected, int | float) else float("nan")
    p_value = drifts.decay_test(hits, trials, expected)
    result: dict[str, Any] = {
        "model_id": card.model_id,
        **drifts.verdict(psi, p_value, s.model.drift, missing),
        "hit_rate": hits / trials if trials else None,
        "expected_hit_rate": expected,
        "hit_p_value": p_value,
        "rows": len(new),
        "psi": dict(sorted(psi.items(), key=lambda kv: -kv[1])),
    }
    if as_json:
        typer.echo(json.dumps(result, allow_nan=False, default=lambda v: None))
        return
    console.print(_table(result))


def _table(result: dict[str, Any]) -> Table:
    state = "DRIFT" if result["drift"] else "stable"
    state += ", DECAY" if result["decay"] else ""
    table = Table(title=f"model {result['model_id']}: {state}", caption=result["reason"])
    table.add_column("feature / test")
    table.add_column("value", justify="right")
    hit = result["hit_rate"]
    table.add_row("hit rate (new bars)", "-" if hit is None else f"{hit:.2%}")
    table.add_row("expected (out of sample)", f"{result['expected_hit_rate']:.2%}")
    table.add_row("decay p-value", f"{result['hit_p_value']:.3g}")
    table.add_row("rows", str(result["rows"]))
    for name, value in list(result["psi"].items())[:10]:
        table.add_row(f"PSI {name}", f"{value:.3f}")
    return table
