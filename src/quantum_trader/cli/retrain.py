"""``quantum model retrain``: the promoted model's setup, trained again on the latest data.

What a scheduled job runs (say, daily after new klines are downloaded): the same symbols,
interval and label horizon as the model in service, on the last ``--days`` of ``--data``
(default: as many days as that model trained on), with the walk-forward and promotion
rules of the settings. The new model is promoted only if it passes every out-of-sample
test *and* beats the model in service on the same folds; otherwise the model in service
stays. ``quantum model drift`` says when the market has moved enough to bother.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quantum_trader.cli.context import fail, settings
from quantum_trader.cli.train import train_command
from quantum_trader.data.bars import DAY_MS
from quantum_trader.model.card import trained_with_funding
from quantum_trader.model.registry import ModelError, Registry


def retrain_command(
    data: Annotated[
        Path, typer.Option(help="The latest kline files: a Binance dump, a directory, Parquet.")
    ],
    days: Annotated[
        int | None,
        typer.Option(help="Train on the last N days (default: the promoted model's window)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON here ('-': stdout).")
    ] = None,
) -> None:
    """Retrain the promoted model's setup on the latest window of --data."""
    registry = Registry(Path(settings().data_dir) / "models")
    try:
        promoted = registry.promoted()
        if promoted is None:
            raise ModelError("no model is promoted: train one first (quantum model train)")
        card = registry.card(promoted)
    except ModelError as exc:
        raise fail(str(exc)) from None
    window = days or max(1, round((card.train_to_ms - card.train_from_ms) / DAY_MS))
    train_command(
        data=data,
        synthetic=False,
        symbols=",".join(card.symbols),
        interval=card.interval,
        days=window,
        start=None,
        end=None,
        horizon=int(card.barrier["horizon_bars"]),
        folds=None,
        seed=0,
        funding_feature=trained_with_funding(card),
        json_path=json_path,
    )
