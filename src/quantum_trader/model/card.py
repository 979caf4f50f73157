"""A model card: everything needed to trust, reproduce and serve a trained signal model.

A card travels with its heads (one LightGBM booster per head, e.g. ``long`` and
``short``, in LightGBM's text format) and is stored as ``models/<model_id>/card.json``
beside ``models/<model_id>/<head>.txt`` (``registry.py``). ``card.json`` holds:

* ``model_id`` — ``m-`` and 12 hex digits of a SHA-256 over the card's content (every field
  but ``model_id`` and ``created_at_ms``) and the heads' texts: the same training on the
  same data gives the same id, and an edited file no longer matches its directory name.
* ``created_at_ms`` — when it was trained (epoch ms, UTC).
* ``interval``, ``symbols`` — the bars and the universe it was trained on.
* ``feature_names``, ``feature_version`` — the input columns, in order, and the version of
  their definitions (``quantum_trader.features.FEATURE_VERSION``); a model is served only
  by code that computes the same version.
* ``barrier`` — the triple-barrier labels: ``take_profit_atr``, ``stop_atr``,
  ``horizon_bars``.
* ``train_from_ms``, ``train_to_ms``, ``data_fingerprint`` — the training window and a
  digest of the data it saw.
* ``params`` — the training parameters (JSON values).
* ``calibration`` — per head, the isotonic map from raw score to probability:
  ``{"x": [...], "y": [...]}``.
* ``evidence`` — the out-of-sample metrics; ``promotable`` (bool) and ``reason`` (str) say
  whether the evaluation allows serving it and why.
* ``heads`` — the head names, in order.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

HEAD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
BARRIER_KEYS = ("take_profit_atr", "stop_atr", "horizon_bars")
ID_PREFIX = "m-"
ID_HEX_DIGITS = 12


class ModelError(Exception):
    """A model or the registry cannot be used; the message is one line for a person."""


@dataclass(frozen=True, slots=True)
class ModelCard:
    """What a trained model is, what it was trained on and how well it did (module doc)."""

    model_id: str
    created_at_ms: int
    interval: str
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_version: str
    barrier: dict[str, float]
    train_from_ms: int
    train_to_ms: int
    data_fingerprint: str
    params: dict[str, Any]
    calibration: dict[str, dict[str, list[float]]]
    evidence: dict[str, Any]
    heads: tuple[str, ...]

    @property
    def promotable(self) -> bool:
        return self.evidence.get("promotable") is True

    @property
    def reason(self) -> str:
        return str(self.evidence.get("reason", ""))

    def with_id(self, model_id: str) -> ModelCard:
        return replace(self, model_id=model_id)

    def to_json(self) -> dict[str, Any]:
        """The card as JSON values: tuples as lists, numbers as int or float (numpy scalars
        too), and a NaN or infinite metric as null."""
        return {
            "model_id": self.model_id,
            "created_at_ms": self.created_at_ms,
            "interval": self.interval,
            "symbols": list(self.symbols),
            "feature_names": list(self.feature_names),
            "feature_version": self.feature_version,
            "barrier": {k: float(v) for k, v in self.barrier.items()},
            "train_from_ms": self.train_from_ms,
            "train_to_ms": self.train_to_ms,
            "data_fingerprint": self.data_fingerprint,
            "params": plain_json(self.params, "params"),
            "calibration": {
                head: {axis: [float(v) for v in values] for axis, values in curve.items()}
                for head, curve in self.calibration.items()
            },
            "evidence": plain_json(self.evidence, "evidence"),
            "heads": list(self.heads),
        }

    @classmethod
    def from_json(cls, data: object, source: str | Path = "model card") -> ModelCard:
        """A validated card; a missing or mistyped field raises ModelError naming the field
        and ``source`` (the file it came from)."""
        return _CardReader(data, str(source)).card()


def plain_json(value: object, field: str) -> Any:
    """``value`` made of plain JSON types; non-finite floats become None."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(k): plain_json(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v, field) for v in value]
    raise ModelError(f"model card field {field!r} holds a {type(value).__name__}, not JSON")


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, finite numbers only: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_id(card: ModelCard, head_texts: Mapping[str, str]) -> str:
    """``m-`` + 12 hex digits of SHA-256 over the card's content and its heads' texts.

    ``model_id`` and ``created_at_ms`` are left out, so retraining on the same data with
    the same parameters gives the same id. Each head is hashed as its name, its length in
    bytes and its text, in ``card.heads`` order."""
    missing = [h for h in card.heads if h not in head_texts]
    extra = sorted(set(head_texts) - set(card.heads))
    if missing or extra:
        raise ModelError(
            f"the heads given ({', '.join(sorted(head_texts)) or 'none'}) do not match the "
            f"card's heads ({', '.join(card.heads)})"
        )
    content = card.to_json()
    del content["model_id"], content["created_at_ms"]
    try:
        text = canonical_json(content)
    except ValueError as exc:
        raise ModelError(f"the model card holds a value JSON cannot store ({exc})") from None
    digest = hashlib.sha256(text.encode())
    for head in card.heads:
        body = head_texts[head].encode()
        digest.update(f"\n{head} {len(body)}\n".encode())
        digest.update(body)
    return ID_PREFIX + digest.hexdigest()[:ID_HEX_DIGITS]


class _CardReader:
    """Reads one card's JSON, field by field, with messages that name the field."""

    def __init__(self, data: object, source: str) -> None:
        self.source = source
        if not isinstance(data, dict):
            raise ModelError(f"{source}: a model card must be a JSON object")
        self.data: dict[str, Any] = data

    def bad(self, field: str, expected: str) -> ModelError:
        return ModelError(f"{self.source}: field {field!r} must be {expected}")

    def get(self, field: str) -> Any:
        if field not in self.data:
            raise ModelError(f"{self.source}: required field {field!r} is missing")
        return self.data[field]

    def text(self, field: str, *, empty: bool = False) -> str:
        value = self.get(field)
        if not isinstance(value, str) or (not empty and not value):
            raise self.bad(field, "a string" if empty else "a non-empty string")
        return value

    def integer(self, field: str) -> int:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(field, "an integer (epoch ms)")
        return value

    def names(self, field: str) -> tuple[str, ...]:
        value = self.get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.bad(field, "a list of non-empty strings")
        if len(set(value)) != len(value):
            raise self.bad(field, "a list without repeats")
        return tuple(value)

    def obj(self, field: str) -> dict[str, Any]:
        value = self.get(field)
        if not isinstance(value, dict):
            raise self.bad(field, "a JSON object")
        try:
            canonical_json(value)
        except (TypeError, ValueError):
            raise self.bad(field, "JSON values (finite numbers, strings, lists, objects)") from None
        return value

    def barrier(self) -> dict[str, float]:
        value = self.obj("barrier")
        if sorted(value) != sorted(BARRIER_KEYS) or not all(_number(v) for v in value.values()):
            raise self.bad("barrier", f"an object of numbers with keys {', '.join(BARRIER_KEYS)}")
        return {k: float(value[k]) for k in BARRIER_KEYS}

    def calibration(self, heads: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
        value = self.obj("calibration")
        out: dict[str, dict[str, list[float]]] = {}
        for head, curve in value.items():
            field = f"calibration.{head}"
            if head not in heads:
                raise self.bad(field, f"one of the heads ({', '.join(heads)})")
            if not isinstance(curve, dict) or sorted(curve) != ["x", "y"]:
                raise self.bad(field, 'an object {"x": [...], "y": [...]}')
            xs, ys = curve["x"], curve["y"]
            if not all(isinstance(v, list) and all(_number(n) for n in v) for v in (xs, ys)):
                raise self.bad(field, "lists of numbers")
            if len(xs) != len(ys):
                raise self.bad(field, "two lists of the same length")
            out[head] = {"x": [float(n) for n in xs], "y": [float(n) for n in ys]}
        return out

    def evidence(self) -> dict[str, Any]:
        value = self.obj("evidence")
        if not isinstance(value.get("promotable"), bool):
            raise self.bad("evidence.promotable", "true or false")
        if not isinstance(value.get("reason"), str):
            raise self.bad("evidence.reason", "a string")
        return value

    def card(self) -> ModelCard:
        heads = self.names("heads")
        if not heads or not all(HEAD_NAME.match(h) for h in heads):
            raise self.bad("heads", "a non-empty list of names like long, short (a-z, 0-9, _)")
        card = ModelCard(
            model_id=self.text("model_id", empty=True),
            created_at_ms=self.integer("created_at_ms"),
            interval=self.text("interval"),
            symbols=self.names("symbols"),
            feature_names=self.names("feature_names"),
            feature_version=self.text("feature_version"),
            barrier=self.barrier(),
            train_from_ms=self.integer("train_from_ms"),
            train_to_ms=self.integer("train_to_ms"),
            data_fingerprint=self.text("data_fingerprint", empty=True),
            params=self.obj("params"),
            calibration=self.calibration(heads),
            evidence=self.evidence(),
            heads=heads,
        )
        if card.train_from_ms > card.train_to_ms:
            raise self.bad("train_to_ms", "at or after train_from_ms")
        unknown = sorted(set(self.data) - set(ModelCard.__dataclass_fields__))
        if unknown:
            raise ModelError(f"{self.source}: unknown field(s) {', '.join(unknown)}")
        return card


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


FUNDING_FEATURE = "funding_rate"


def trained_with_funding(card: ModelCard) -> bool:
    """Did the model's training rows have funding rates (its kept distribution says)?"""
    kept = card.evidence.get("drift_reference", {}).get(FUNDING_FEATURE, {})
    return bool(sum(kept.get("share", ())))
