"""``quantum strategies list``: every registered strategy, its parameters with defaults
and the ranges ``quantum hyperopt`` searches, its warm-up and what it trades."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import available, get_strategy
from quantum_trader.strategies.base import strategy_class, strategy_parameters

strategies_app = typer.Typer(
    help="The strategies: parameters, search ranges, warm-up.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def describe(name: str) -> dict[str, Any]:
    cls = strategy_class(name)
    try:
        warmup: int | None = get_strategy(name).warmup
    except ValueError:  # needs more than defaults (the model strategy: a trained model)
        warmup = None
    profile = cls.engine_profile
    sides = [s.value for s in profile.sides] if profile else [s.value for s in PositionSide]
    doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split()).replace("``", "")
    return {
        "name": name,
        "summary": doc,
        "parameters": [
            {
                "name": p,
                "default": default,
                "search": cls.search_space[p].describe() if p in cls.search_space else None,
            }
            for p, default in strategy_parameters(name).items()
        ],
        "warmup_bars": warmup,
        "sides": sides,
        "rules": "its own (engine profile)" if profile else "the system's",
    }


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value in ("", None) else str(value)


@strategies_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every strategy with its parameters (default, search range), warm-up and sides."""
    found = [describe(n) for n in available()]
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2, default=str) + "\n")
        return
    table = Table(show_lines=True)
    for column in ("strategy", "what it trades", "parameters (default · search range)", "warm-up"):
        table.add_column(column, justify="right" if column == "warm-up" else "left")
    for s in found:
        params = "\n".join(
            f"{p['name']} = {_shown(p['default'])}" + (f" · {p['search']}" if p["search"] else "")
            for p in s["parameters"]
        )
        what = f"{s['summary']}\n{' / '.join(s['sides'])}; {s['rules']} sizing and exits"
        bars = s["warmup_bars"]
        table.add_row(
            s["name"], what, params or "—", "its model's" if bars is None else f"{bars} bars"
        )
    Console(width=None if sys.stdout.isatty() else 140).print(table)
