"""The model registry on a temporary directory: content ids, integrity, promotion stack."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.model.card import ModelCard, ModelError, content_id
from quantum_trader.model.registry import PromotionRaced, Registry

FV = "fv-test0001"
HEADS = {"long": "tree\nversion=v4\nlong booster\n", "short": "tree\nversion=v4\nshort\n"}


def make_card(**changes: Any) -> ModelCard:
    card = ModelCard(
        model_id="",
        created_at_ms=1_704_067_200_000,
        interval="1h",
        symbols=("BTCUSDT", "ETHUSDT"),
        feature_names=("ret_1", "atr_14"),
        feature_version=FV,
        barrier={"take_profit_atr": 2.0, "stop_atr": 1.0, "horizon_bars": 24},
        train_from_ms=1_672_531_200_000,
        train_to_ms=1_704_067_200_000,
        data_fingerprint="sha256:abc",
        params={"num_leaves": 31, "learning_rate": 0.05},
        calibration={"long": {"x": [0.0, 1.0], "y": [0.1, 0.9]}},
        evidence={"promotable": True, "reason": "beats baseline", "oos": {"ic": 0.04}},
        heads=("long", "short"),
    )
    return replace(card, **changes)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "models")


def saved(registry: Registry, *, seed: int = 0, promotable: bool = True) -> str:
    card = make_card(
        data_fingerprint=f"data-{seed}",
        created_at_ms=1_704_067_200_000 + seed,
        evidence={"promotable": promotable, "reason": "IC below 0.02" if not promotable else "ok"},
    )
    return registry.save(card, HEADS).model_id


def test_save_load_round_trip_keeps_card_and_head_texts_exactly(registry: Registry) -> None:
    card = registry.save(make_card(), HEADS)
    loaded, heads = registry.load(card.model_id, FV)
    assert loaded == card
    assert heads == HEADS
    assert registry.head_texts(card.model_id) == HEADS
    assert sorted(p.name for p in (registry.root / card.model_id).iterdir()) == [
        "card.json",
        "long.txt",
        "short.txt",
    ]
    assert registry.ids() == [card.model_id]


def test_id_is_derived_from_content_and_stable(registry: Registry) -> None:
    first = content_id(make_card(), HEADS)
    assert first.startswith("m-") and len(first) == 14
    assert content_id(make_card(model_id="m-other", created_at_ms=5), HEADS) == first
    assert content_id(make_card(params={"learning_rate": 0.05, "num_leaves": 31}), HEADS) == first
    assert content_id(make_card(data_fingerprint="other"), HEADS) != first
    assert content_id(make_card(), {**HEADS, "short": "changed"}) != first
    swapped = make_card(heads=("short", "long"))
    assert content_id(swapped, HEADS) != first
    assert registry.save(make_card(), HEADS).model_id == first


def test_saving_the_same_training_again_returns_the_stored_model(registry: Registry) -> None:
    first = registry.save(make_card(), HEADS)
    again = registry.save(make_card(created_at_ms=1_800_000_000_000), HEADS)
    assert again == first
    assert registry.ids() == [first.model_id]
    assert [p.name for p in registry.root.iterdir() if p.name.startswith(".")] == []


def test_heads_must_match_the_card(registry: Registry) -> None:
    with pytest.raises(ModelError, match="do not match"):
        registry.save(make_card(), {"long": "x"})


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "long.txt").write_text("tampered"),
        lambda d: (d / "short.txt").unlink(),
    ],
)
def test_a_changed_model_directory_is_corrupt(registry: Registry, damage: Any) -> None:
    model_id = registry.save(make_card(), HEADS).model_id
    damage(registry.root / model_id)
    with pytest.raises(ModelError, match=f"model {model_id} is corrupt"):
        registry.load(model_id, FV)


def test_an_edited_card_is_corrupt(registry: Registry) -> None:
    model_id = registry.save(make_card(), HEADS).model_id
    path = registry.root / model_id / "card.json"
    data = json.loads(path.read_text())
    data["evidence"]["promotable"] = False
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="is corrupt: its files hash to m-"):
        registry.load(model_id, FV)


def test_a_bad_card_names_the_field_and_the_file(registry: Registry) -> None:
    model_id = registry.save(make_card(), HEADS).model_id
    path = registry.root / model_id / "card.json"
    data = json.loads(path.read_text())
    data["train_from_ms"] = "yesterday"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError) as err:
        registry.card(model_id)
    message = str(err.value)
    assert "'train_from_ms'" in message and str(path) in message and "\n" not in message
    del data["heads"]
    with pytest.raises(ModelError, match="required field 'heads' is missing"):
        ModelCard.from_json(data, path)


def test_card_json_round_trip() -> None:
    card = make_card(model_id="m-000000000000")
    assert ModelCard.from_json(json.loads(json.dumps(card.to_json()))) == card
    with pytest.raises(ModelError, match="'barrier'"):
        ModelCard.from_json({**card.to_json(), "barrier": {"stop_atr": 1.0}}, "x.json")
    with pytest.raises(ModelError, match=r"evidence\.promotable"):
        ModelCard.from_json({**card.to_json(), "evidence": {"reason": "?"}}, "x.json")


def test_a_model_of_other_feature_definitions_is_refused(registry: Registry) -> None:
    model_id = registry.save(make_card(feature_version="1a2b"), HEADS).model_id
    with pytest.raises(ModelError) as err:
        registry.load(model_id, "3c4d")
    assert str(err.value) == (
        f"model {model_id} was trained on feature version 1a2b; this code computes 3c4d: "
        "retrain it (quantum model train)"
    )


def test_a_unique_prefix_finds_a_model_and_an_ambiguous_one_lists_candidates(
    registry: Registry,
) -> None:
    ids = [saved(registry, seed=s) for s in range(17)]  # 17 ids in 16 first digits: two share one
    model_id = ids[0]
    assert registry.card(model_id[:8]).model_id == model_id
    assert registry.card(model_id[2:9]).model_id == model_id  # without the "m-"
    by_first: dict[str, list[str]] = {}
    for i in ids:
        by_first.setdefault(i[:3], []).append(i)
    shared = next(group for group in by_first.values() if len(group) > 1)
    with pytest.raises(ModelError, match="ambiguous") as err:
        registry.card(shared[0][:3])
    assert all(i in str(err.value) for i in shared)
    with pytest.raises(ModelError, match="no model 'm-zzz'"):
        registry.card("m-zzz")


def test_a_missing_or_empty_models_directory_is_an_empty_registry(registry: Registry) -> None:
    assert (registry.ids(), registry.cards(), registry.promoted(), registry.history()) == (
        [],
        [],
        None,
        [],
    )
    registry.root.mkdir()
    assert registry.cards() == [] and registry.promoted() is None
    with pytest.raises(ModelError, match="the registry is empty"):
        registry.card("m-1")


def test_cards_are_sorted_by_creation_time(registry: Registry) -> None:
    late = registry.save(make_card(created_at_ms=3, data_fingerprint="a"), HEADS).model_id
    early = registry.save(make_card(created_at_ms=1, data_fingerprint="b"), HEADS).model_id
    assert [c.model_id for c in registry.cards()] == [early, late]


def test_an_unpromotable_model_is_refused_unless_forced(registry: Registry) -> None:
    weak = saved(registry, promotable=False)
    with pytest.raises(ModelError, match=r"is not promotable: IC below 0\.02"):
        registry.promote(weak, at_ms=1, reason="try")
    assert registry.promoted() is None
    assert registry.promote(weak, at_ms=2, reason="operator insists", force=True) is None
    assert registry.promoted() == weak
    [event] = registry.history()
    assert (event.action, event.forced, event.reason, event.at_ms) == (
        "promote",
        True,
        "operator insists",
        2,
    )


def test_promoting_the_promoted_model_again_changes_nothing(registry: Registry) -> None:
    model_id = saved(registry)
    assert registry.promote(model_id, at_ms=1, reason="first") is None
    assert registry.promote(model_id[:6], at_ms=2, reason="again") == model_id
    assert len(registry.history()) == 1


def test_rollback_pops_one_promotion_at_a_time(registry: Registry) -> None:
    a, b, c = (saved(registry, seed=s) for s in range(3))
    for n, model_id in enumerate((a, b, a, c)):
        registry.promote(model_id, at_ms=n, reason="new")
    assert registry.rollback(at_ms=10) == a
    assert registry.rollback(at_ms=11) == b
    assert registry.promote(c, at_ms=12, reason="again") == b
    assert registry.rollback(at_ms=13) == b
    assert registry.rollback(at_ms=14) == a
    assert registry.promoted() == a
    with pytest.raises(ModelError, match=f"nothing to roll back to: only {a} has been promoted"):
        registry.rollback(at_ms=15)
    last = registry.history()[-1]
    assert (last.action, last.model_id, last.reason) == ("rollback", a, f"rolled back from {b}")
    stored = json.loads(registry.registry_file.read_text())
    assert stored["promoted"] == a and len(stored["history"]) == 9


def test_nothing_to_roll_back_in_an_empty_registry(registry: Registry) -> None:
    with pytest.raises(ModelError, match="nothing to roll back to: nothing is promoted"):
        registry.rollback(at_ms=1)


@pytest.mark.parametrize(
    "text",
    ["", "{not json", '{"promoted": "m-x"}', '{"promoted": 3, "history": []}'],
)
def test_a_corrupt_registry_file_names_the_file_and_the_fix(registry: Registry, text: str) -> None:
    registry.root.mkdir()
    registry.registry_file.write_text(text)
    with pytest.raises(ModelError) as err:
        registry.promoted()
    message = str(err.value)
    assert str(registry.registry_file) in message and "delete it" in message
    assert "\n" not in message


def _promote_many(root: Path, model_id: str, rounds: int, start: Any, done: Any) -> None:
    """Promote ``model_id`` ``rounds`` times; report how many of them changed the registry."""
    registry = Registry(root)
    start.wait()
    changed = 0
    for n in range(rounds):
        if registry.promote(model_id, at_ms=n, reason="race") != model_id:
            changed += 1
    done.put(changed)


def test_concurrent_promotes_from_two_processes_lose_no_event(registry: Registry) -> None:
    a, b = saved(registry, seed=1), saved(registry, seed=2)
    ctx = multiprocessing.get_context("fork")
    start, done = ctx.Barrier(2), ctx.SimpleQueue()
    workers = [
        ctx.Process(target=_promote_many, args=(registry.root, model_id, 60, start, done))
        for model_id in (a, b)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0]
    changed = done.get() + done.get()
    history = registry.history()
    assert len(history) == changed
    assert all(e.action == "promote" for e in history)
    assert all(x.model_id != y.model_id for x, y in itertools.pairwise(history))
    assert registry.promoted() == history[-1].model_id
    assert [p.name for p in registry.root.iterdir() if p.name.startswith(".registry")] == []


def test_undefined_metrics_are_stored_as_null(registry: Registry) -> None:
    evidence = {"promotable": False, "reason": "no trades", "oos": {"ic": float("nan")}}
    stored = registry.save(make_card(evidence=evidence), HEADS)
    assert stored.evidence["oos"] == {"ic": None}
    assert registry.load(stored.model_id, FV)[0] == stored


def test_a_promotion_judged_against_one_model_is_refused_once_another_is_served(
    registry: Registry,
) -> None:
    a, b, c = (saved(registry, seed=s) for s in range(3))
    assert registry.promote(a, at_ms=1, reason="judged against none", replacing=None) is None
    with pytest.raises(PromotionRaced, match=f"{a} was promoted while {b} trained against no"):
        registry.promote(b, at_ms=2, reason="judged against none", replacing=None)
    assert registry.promote(c, at_ms=3, reason="judged against a", replacing=a) == a
    with pytest.raises(PromotionRaced) as raced:
        registry.promote(b, at_ms=4, reason="judged against a", replacing=a)
    assert raced.value.served == c
    assert registry.promoted() == c and len(registry.history()) == 2
