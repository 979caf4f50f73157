"""The model registry: trained signal models on disk and which one is served.

Layout under ``QUANTUM_DATA_DIR/models/``::

    models/
      registry.json            {"promoted": id | null, "history": [event, ...]}
      .lock                    flock'd while registry.json is changed
      m-1a2b3c4d5e6f/
        card.json              the model card (card.py)
        long.txt               one LightGBM booster per head, in LightGBM's text format
        short.txt

A model directory is written once, into a hidden temporary directory renamed into place,
and never changed: its name is the content id of its card and heads, so ``load`` can tell
an edited or truncated model from a good one. Saving the same training twice is a no-op.

``registry.json`` says which model is promoted (served) and keeps every change as an
event ``{"model_id", "action": "promote" | "rollback", "at_ms", "reason", "forced"}``.
The promotions form a stack: ``promote`` pushes a model, ``rollback`` pops the current one
and serves the one promoted before it (the event names the model served after it). The
file is replaced atomically, under an exclusive ``flock`` on ``models/.lock``, so two
operators promoting at once both land in the history. A missing or empty ``models/``
directory is an empty registry; to start the history again, delete ``registry.json``
(the models stay).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any

from quantum_trader.model.card import ID_PREFIX, ModelCard, ModelError, content_id

__all__ = ["ModelError", "PromotionRaced", "Registry", "RegistryEvent"]


class PromotionRaced(ModelError):
    """A compare-and-set promotion found another model served than the one it judged."""

    def __init__(self, message: str, served: str | None) -> None:
        super().__init__(message)
        self.served = served


CARD_FILE = "card.json"
REGISTRY_FILE = "registry.json"
LOCK_FILE = ".lock"
ACTIONS = ("promote", "rollback")


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One change of the promoted model."""

    model_id: str
    action: str
    at_ms: int
    reason: str
    forced: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _State:
    promoted: str | None
    history: tuple[RegistryEvent, ...]

    def stack(self) -> list[str]:
        """The promotions still in force, oldest first; the last one is served."""
        stack: list[str] = []
        for event in self.history:
            if event.action == "promote":
                stack.append(event.model_id)
            elif stack:
                stack.pop()
        return stack


class Registry:
    """The models under ``root`` (``data_dir / "models"``); see the module doc for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # models -------------------------------------------------------------------------------

    def save(self, card: ModelCard, head_texts: Mapping[str, str]) -> ModelCard:
        """Store a trained model; returns its card with the content id. An identical model
        already stored is returned as it is (its own ``created_at_ms``)."""
        model_id = content_id(card, head_texts)
        card = ModelCard.from_json(card.with_id(model_id).to_json(), "the card to save")
        target = self.root / model_id
        if target.exists():
            return self.load(model_id, card.feature_version)[0]
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{model_id}-", dir=self.root))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a service's user
        try:
            for head in card.heads:
                _write_durably(staging / f"{head}.txt", head_texts[head].encode())
            text = json.dumps(card.to_json(), indent=2, sort_keys=True, allow_nan=False)
            _write_durably(staging / CARD_FILE, (text + "\n").encode())
            try:
                staging.rename(target)
            except OSError:
                if not target.exists():
                    raise
                # another process stored the same model first
                return self.load(model_id, card.feature_version)[0]
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _fsync_dir(self.root)
        return card

    def ids(self) -> list[str]:
        """Every stored model id, sorted (hidden temporary directories left out)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.name.startswith(ID_PREFIX) and p.is_dir()
        )

    def cards(self) -> list[ModelCard]:
        """Every stored card, oldest first (then by id)."""
        return sorted(
            (self._read_card(i) for i in self.ids()), key=lambda c: (c.created_at_ms, c.model_id)
        )

    def resolve(self, model_id: str) -> str:
        """The full id for ``model_id`` or a unique prefix of one (``m-`` may be left out)."""
        known = self.ids()
        if model_id in known:
            return model_id
        wanted = model_id if model_id.startswith(ID_PREFIX) else ID_PREFIX + model_id
        matches = [i for i in known if i.startswith(wanted)] if model_id else []
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ModelError(
                f"model id {model_id!r} is ambiguous: it starts {', '.join(matches)}; "
                "give more of the id"
            )
        listed = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
        where = f"known: {listed}" if known else "the registry is empty"
        raise ModelError(f"no model {model_id!r} in {self.root} ({where})")

    def card(self, model_id: str) -> ModelCard:
        """The card of ``model_id`` (an id or a unique prefix)."""
        return self._read_card(self.resolve(model_id))

    def head_texts(self, model_id: str) -> dict[str, str]:
        """The booster text of each head of ``model_id``, in head order."""
        model_id = self.resolve(model_id)
        return self._read_heads(self._read_card(model_id))

    def load(self, model_id: str, feature_version: str) -> tuple[ModelCard, dict[str, str]]:
        """The card and heads of ``model_id``, checked whole and computed by the same
        feature definitions as ``feature_version`` (this code's)."""
        card = self.card(model_id)
        heads = self._read_heads(card)
        actual = content_id(card, heads)
        if actual != card.model_id:
            raise ModelError(
                f"model {card.model_id} is corrupt: its files hash to {actual} "
                f"({self.root / card.model_id} was changed after it was saved); "
                "delete the directory and train again"
            )
        if card.feature_version != feature_version:
            raise ModelError(
                f"model {card.model_id} was trained on feature version {card.feature_version}; "
                f"this code computes {feature_version}: retrain it (quantum model train)"
            )
        return card, heads

    def _read_card(self, model_id: str) -> ModelCard:
        path = self.root / model_id / CARD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"model {model_id} is corrupt: {path} is missing") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelError(
                f"model {model_id} is corrupt: {path} cannot be read ({exc})"
            ) from None
        card = ModelCard.from_json(data, path)
        if card.model_id != model_id:
            raise ModelError(
                f"model {model_id} is corrupt: {path} says it is {card.model_id or 'unnamed'}"
            )
        return card

    def _read_heads(self, card: ModelCard) -> dict[str, str]:
        texts: dict[str, str] = {}
        for head in card.heads:
            path = self.root / card.model_id / f"{head}.txt"
            try:
                texts[head] = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = "is missing" if isinstance(exc, FileNotFoundError) else f"({exc})"
                raise ModelError(f"model {card.model_id} is corrupt: {path} {reason}") from None
        return texts

    # promotion ----------------------------------------------------------------------------

    def promoted(self) -> str | None:
        """The id of the model being served, or None."""
        return self._read_state().promoted

    def history(self) -> list[RegistryEvent]:
        """Every promotion and rollback, oldest first."""
        return list(self._read_state().history)

    def promote(
        self,
        model_id: str,
        *,
        at_ms: int,
        reason: str,
        force: bool = False,
        replacing: str | EllipsisType | None = ...,
    ) -> str | None:
        """Serve ``model_id`` (an id or unique prefix); returns the model served before.

        A model whose evidence says it is not promotable is refused unless ``force`` (then
        the event says ``forced``). Promoting the model already served changes nothing.
        With ``replacing`` (the model a training run judged against, None for none) it is
        promoted only if that one is still served, checked under the registry's lock:
        otherwise ``PromotionRaced`` — another run promoted a model meanwhile, and this one
        was never compared with it."""
        model_id = self.resolve(model_id)
        card = self.card(model_id)
        self.load(model_id, card.feature_version)  # refuse a corrupt model
        if not card.promotable and not force:
            raise ModelError(
                f"model {model_id} is not promotable: {card.reason or 'no reason given'}; "
                "use --force to promote it anyway"
            )
        with self._locked():
            state = self._read_state()
            if replacing is not ... and state.promoted != replacing:
                raise PromotionRaced(
                    f"not promoted: {state.promoted} was promoted while {model_id} trained "
                    f"against {replacing or 'no model'}; compare the two before serving it "
                    f"(`quantum model promote {model_id}`)",
                    state.promoted,
                )
            if state.promoted == model_id:
                return model_id
            event = RegistryEvent(model_id, "promote", at_ms, reason, not card.promotable)
            self._write_state(_State(model_id, (*state.history, event)))
            return state.promoted

    def rollback(self, *, at_ms: int, reason: str = "") -> str:
        """Stop serving the current model and serve the one promoted before it; returns
        that model's id. Each rollback pops one promotion, so repeated rollbacks walk back
        through the promotions and end when only the first one is left."""
        with self._locked():
            state = self._read_state()
            stack = state.stack()
            if len(stack) < 2:
                served = f"only {stack[0]} has been promoted" if stack else "nothing is promoted"
                raise ModelError(f"nothing to roll back to: {served}")
            current, previous = stack[-1], stack[-2]
            event = RegistryEvent(
                previous, "rollback", at_ms, reason or f"rolled back from {current}", False
            )
            self._write_state(_State(previous, (*state.history, event)))
            return previous

    @property
    def registry_file(self) -> Path:
        return self.root / REGISTRY_FILE

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> _State:
        path = self.registry_file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _State(None, ())
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"it cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("history"), list):
            raise self._corrupt('expected {"promoted": ..., "history": [...]}')
        promoted = data.get("promoted")
        if promoted is not None and not isinstance(promoted, str):
            raise self._corrupt('"promoted" must be a model id or null')
        state = _State(promoted, tuple(self._event(e, n) for n, e in enumerate(data["history"])))
        stack = state.stack()
        if promoted != (stack[-1] if stack else None):
            raise self._corrupt(f'"promoted" is {promoted} but the history ends at {stack[-1:]}')
        return state

    def _event(self, raw: object, n: int) -> RegistryEvent:
        fields = {"model_id": str, "action": str, "at_ms": int, "reason": str, "forced": bool}
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), t) and (t is bool or not isinstance(raw.get(k), bool))
            for k, t in fields.items()
        ):
            raise self._corrupt(f"history[{n}] must have {', '.join(fields)}")
        if raw["action"] not in ACTIONS:
            raise self._corrupt(f"history[{n}].action must be promote or rollback")
        return RegistryEvent(**{k: raw[k] for k in fields})

    def _corrupt(self, detail: str) -> ModelError:
        return ModelError(
            f"{self.registry_file} is not a valid model registry ({detail}); repair it from "
            "a backup, or delete it to start with nothing promoted (the models stay)"
        )

    def _write_state(self, state: _State) -> None:
        data = {"promoted": state.promoted, "history": [e.to_json() for e in state.history]}
        fd, tmp = tempfile.mkstemp(prefix=f".{REGISTRY_FILE}-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write((json.dumps(data, indent=2) + "\n").encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.registry_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
