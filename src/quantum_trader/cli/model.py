"""``quantum model …``: list the trained signal models, show one, promote one, roll back.

Models live in ``QUANTUM_DATA_DIR/models/`` (layout in ``registry.py``). Every command
takes ``--json`` for machine output on stdout; otherwise it prints tables with times as
ISO-8601 UTC. An id may be given as a unique prefix (``m-1a2b`` or ``1a2b``). A model
trained on other feature definitions than this code's is marked ``stale``: it cannot be
served until it is retrained. Errors are one line on stderr with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from quantum_trader.cli.context import err_console, fail, settings, usable_data_dir
from quantum_trader.clock import SystemClock
from quantum_trader.domain.timefmt import iso_utc
from quantum_trader.model.card import ModelCard, ModelError
from quantum_trader.model.dataset import model_feature_version
from quantum_trader.model.registry import Registry

model_app = typer.Typer(
    help="Trained signal models: list them, show one, promote one to be served, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
IdArgument = Annotated[str, typer.Argument(help="A model id, or a unique prefix of one.")]


def _registry(*, writable: bool = False) -> Registry:
    """The registry under the configured data directory (created only to write to it)."""
    s = settings()
    data_dir = usable_data_dir(s) if writable else Path(s.data_dir)
    return Registry(data_dir / "models")


def _oos(card: ModelCard, metric: str) -> float | None:
    oos = card.evidence.get("oos")
    value = oos.get(metric) if isinstance(oos, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def summary(card: ModelCard, promoted: str | None) -> dict[str, Any]:
    """One model as a row of ``list --json``."""
    return {
        "model_id": card.model_id,
        "promoted": card.model_id == promoted,
        "created_at_ms": card.created_at_ms,
        "created_at": iso_utc(card.created_at_ms),
        "interval": card.interval,
        "symbols": list(card.symbols),
        "heads": list(card.heads),
        "feature_version": card.feature_version,
        "stale": card.feature_version != model_feature_version(card.interval),
        "promotable": card.promotable,
        "reason": card.reason,
        "oos_ic": _oos(card, "ic"),
        "oos_net_return": _oos(card, "net_return"),
    }


# Two-line headers keep the table within 80 columns; the feature version gives way first.
COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("id\n(* promoted)", "left"),
    ("created\n(UTC)", "left"),
    ("bars", "left"),
    ("sym-\nbols", "right"),
    ("feature\nversion", "left"),
    ("promo-\ntable", "left"),
    ("OOS\nIC", "right"),
    ("net\nreturn", "right"),
)


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


@model_app.command("list")
def list_models(as_json: JsonOption = False) -> None:
    """List the stored models, oldest first; `*` marks the promoted one."""
    registry = _registry()
    try:
        cards, promoted = registry.cards(), registry.promoted()
    except ModelError as exc:
        raise fail(str(exc)) from None
    rows = [summary(c, promoted) for c in cards]
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print(f"no models in {registry.root}", highlight=False)
        return
    console.print(f"models in {registry.root}", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for name, justify in COLUMNS:
        version = name.startswith("feature")
        table.add_column(
            name, justify=justify, no_wrap=not version, min_width=10 if version else None
        )
    for row in rows:
        table.add_row(
            ("* " if row["promoted"] else "  ") + row["model_id"],
            row["created_at"],
            row["interval"],
            str(len(row["symbols"])),
            ("[red]stale[/] " if row["stale"] else "") + row["feature_version"],
            "yes" if row["promotable"] else "no",
            _num(row["oos_ic"], ".3f"),
            _num(row["oos_net_return"], ".2%"),
        )
    console.print(table)


@model_app.command("show")
def show_model(model_id: IdArgument, as_json: JsonOption = False) -> None:
    """Show one model's card: training window, labels, parameters and evidence."""
    registry = _registry()
    try:
        card, promoted = registry.card(model_id), registry.promoted()
    except ModelError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps({**card.to_json(), "promoted": card.model_id == promoted}))
        return
    row = summary(card, promoted)
    table = Table(title=f"model {card.model_id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    current = model_feature_version(card.interval)
    stale = f" (stale: this code computes {current})" if row["stale"] else ""
    lines: list[tuple[str, str]] = [
        ("promoted", "yes" if row["promoted"] else "no"),
        ("created", row["created_at"]),
        ("interval", card.interval),
        ("symbols", ", ".join(card.symbols)),
        ("heads", ", ".join(card.heads)),
        ("features", f"{len(card.feature_names)}, version {card.feature_version}{stale}"),
        ("trained on", f"{iso_utc(card.train_from_ms)} – {iso_utc(card.train_to_ms)}"),
        ("data", card.data_fingerprint or "–"),
        ("barrier", ", ".join(f"{k} {v:g}" for k, v in card.barrier.items())),
        ("calibrated", ", ".join(card.calibration) or "–"),
        ("promotable", "yes" if card.promotable else "no"),
        ("reason", card.reason or "–"),
    ]
    lines += [(f"params.{k}", _json_text(v)) for k, v in sorted(card.params.items())]
    lines += [
        (f"evidence.{k}", _json_text(v))
        for k, v in sorted(card.evidence.items())
        if k not in ("promotable", "reason")
    ]
    for name, value in lines:
        table.add_row(name, escape(value))
    console.print(table, highlight=False)


def _json_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _changed(as_json: bool, promoted: str | None, previous: str | None, verb: str) -> None:
    if as_json:
        print(json.dumps({"promoted": promoted, "previous": previous}))
    elif promoted == previous:
        console.print(f"{promoted} is already promoted; nothing changed", highlight=False)
    else:
        console.print(f"{verb} {promoted} (was {previous or 'none'})", highlight=False)


@model_app.command("promote")
def promote_model(
    model_id: IdArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if its evidence says not to.")
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the registry's history).")
    ] = "promoted by the operator",
    as_json: JsonOption = False,
) -> None:
    """Serve a model from now on: `quantum backtest --strategy model` trades the promoted one."""
    registry = _registry(writable=True)
    try:
        card = registry.card(model_id)
        previous = registry.promote(
            card.model_id, at_ms=SystemClock().now_ms(), reason=reason.strip(), force=force
        )
    except ModelError as exc:
        raise fail(str(exc)) from None
    current = model_feature_version(card.interval)
    if card.feature_version != current:
        err_console.print(
            f"warning: {card.model_id} was trained on feature version {card.feature_version}; "
            f"this code computes {current}, so it will not be served until retrained",
            highlight=False,
        )
    _changed(as_json, card.model_id, previous, "promoted")


@model_app.command("rollback")
def rollback_model(
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the registry's history).")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Serve the model promoted before the current one again."""
    registry = _registry(writable=True)
    try:
        previous = registry.promoted()
        promoted = registry.rollback(at_ms=SystemClock().now_ms(), reason=reason.strip())
    except ModelError as exc:
        raise fail(str(exc)) from None
    _changed(as_json, promoted, previous, "rolled back to")
