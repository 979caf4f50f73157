"""What a hyperparameter search may change: strategy parameters and numeric settings.

``--space name=low:high[:int|log]``: a bare ``name`` is a parameter of the strategy
(``stop_atr=1:4``), a dotted one a setting (``exits.kill_threshold=0.4:0.8``,
``sizing.risk_pct=0.002:0.02:log``), checked against the settings the study starts
from. Without ``--space`` the strategy's declared ``search_space`` is searched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from quantum_trader.config import deep_merge, flatten_settings
from quantum_trader.strategies import get_strategy
from quantum_trader.strategies.base import strategy_class, strategy_parameters
from quantum_trader.strategies.params import RANGE_KINDS, ParamRange


class SpaceError(ValueError):
    """A search space that cannot work; the message names ``--space`` and the fix."""


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str  # a strategy parameter, or a dotted setting
    range: ParamRange

    @property
    def is_setting(self) -> bool:
        return "." in self.name

    def spec(self) -> str:
        return f"{self.name}={self.range.describe()}"


def parse_range(name: str, text: str) -> ParamRange:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SpaceError(f"--space {name}={text}: write low:high or low:high:int|log")
    kind = parts[2] if len(parts) == 3 else "float"
    if kind not in RANGE_KINDS:
        raise SpaceError(f"--space {name}={text}: the kind is one of {', '.join(RANGE_KINDS)}")
    try:
        low, high = float(parts[0]), float(parts[1])
        return ParamRange(low, high, kind)
    except ValueError as exc:
        raise SpaceError(f"--space {name}={text}: {exc}") from None


def parse_space(
    specs: Sequence[str], strategy: str, settings: Mapping[str, Any]
) -> tuple[Dimension, ...]:
    """The dimensions ``specs`` name (default: the strategy's declared search space);
    ``settings`` is the settings dump the study starts from."""
    try:
        cls = strategy_class(strategy)
    except ValueError as exc:
        raise SpaceError(f"--strategy: {exc}") from None
    parameters = strategy_parameters(strategy)
    leaves = dict(flatten_settings(dict(settings)))
    if not specs:
        declared = cls.search_space
        if not declared:
            names = ", ".join(parameters) or "none"
            raise SpaceError(
                f"--space: {strategy} declares no search space; name one with --space "
                f"NAME=LOW:HIGH (its parameters: {names}; or a numeric setting such as "
                "exits.kill.threshold)"
            )
        return tuple(Dimension(n, r) for n, r in declared.items())
    out: dict[str, Dimension] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SpaceError(f"--space {spec!r}: write name=low:high[:int|log]")
        if name in out:
            raise SpaceError(f"--space: {name} is given twice")
        if "." in name:
            if not _numeric(leaves.get(name)):
                raise SpaceError(f"--space {name}: not a numeric setting (see quantum config show)")
        elif name not in parameters:
            known = ", ".join(parameters) or "none"
            raise SpaceError(f"--space {name}: {strategy} has no such parameter; known: {known}")
        out[name] = Dimension(name, parse_range(name, text.strip()))
    return tuple(out.values())


def _numeric(value: object) -> bool:
    """An int, a float or a decimal string (how a settings dump writes Decimals)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def suggest(
    trial: optuna.trial.BaseTrial, dimensions: Sequence[Dimension]
) -> tuple[dict[str, object], dict[str, object]]:
    """(strategy parameters, setting overrides by dotted name) for one trial."""
    params: dict[str, object] = {}
    settings: dict[str, object] = {}
    for d in dimensions:
        r = d.range
        value: object
        if r.kind == "int":
            value = trial.suggest_int(d.name, int(r.low), int(r.high))
        else:
            value = trial.suggest_float(d.name, r.low, r.high, log=r.kind == "log")
        (settings if d.is_setting else params)[d.name] = value
    return params, settings


def check_defaults(strategy: str, params: Mapping[str, object]) -> None:
    """Raise ValueError (the strategy's own message) when ``params`` cannot build it."""
    get_strategy(strategy, **dict(params))


def nested(dotted: Mapping[str, object]) -> dict[str, Any]:
    """``{"exits.kill_threshold": 0.5}`` as ``{"exits": {"kill_threshold": 0.5}}``."""
    out: dict[str, Any] = {}
    for name, value in dotted.items():
        node = out
        *heads, last = name.split(".")
        for head in heads:
            node = node.setdefault(head, {})
        node[last] = value
    return out


def overridden(base: Mapping[str, Any], dotted: Mapping[str, object]) -> dict[str, Any]:
    """The settings sections ``base`` with the ``dotted`` overrides laid over them."""
    return deep_merge(base, nested(dotted))
