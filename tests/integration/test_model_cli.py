"""``quantum model list|show|promote|rollback`` on a registry in a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quantum_trader.cli.model import model_app
from quantum_trader.model.card import ModelCard
from quantum_trader.model.dataset import model_feature_version
from quantum_trader.model.registry import Registry

runner = CliRunner()
HEADS = {"long": "long booster text\n", "short": "short booster text\n"}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Registry:
    for name in ("QUANTUM_REDIS_URL", "TRADING_SYMBOLS", "QUANTUM_TRADING_SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    return Registry(tmp_path / "var" / "models")


def card(
    seed: int, *, promotable: bool = True, feature_version: str = model_feature_version("1h")
) -> ModelCard:
    return ModelCard(
        model_id="",
        created_at_ms=1_704_067_200_000 + seed * 3_600_000,
        interval="1h",
        symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"),
        feature_names=("ret_1", "atr_14"),
        feature_version=feature_version,
        barrier={"take_profit_atr": 2.0, "stop_atr": 1.0, "horizon_bars": 24.0},
        train_from_ms=1_672_531_200_000,
        train_to_ms=1_704_067_200_000,
        data_fingerprint=f"data-{seed}",
        params={"num_leaves": 31, "objective": "[binary]"},
        calibration={"long": {"x": [0.0, 1.0], "y": [0.2, 0.8]}},
        evidence={
            "promotable": promotable,
            "reason": "beats the baseline" if promotable else "net return below zero",
            "oos": {"ic": 0.0412, "net_return": 0.125},
        },
        heads=("long", "short"),
    )


def invoke(*args: str) -> Result:
    return runner.invoke(model_app, list(args))


def ok_json(*args: str) -> object:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, *words: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_list_of_an_empty_registry(registry: Registry) -> None:
    assert ok_json("list") == []
    result = invoke("list")
    assert result.exit_code == 0 and "no models in" in result.stdout


def test_list_shows_each_model_and_marks_the_promoted_and_the_stale(registry: Registry) -> None:
    fresh = registry.save(card(1), HEADS).model_id
    stale = registry.save(card(0, feature_version="fv-old", promotable=False), HEADS).model_id
    registry.promote(fresh, at_ms=1, reason="test")
    rows = ok_json("list")
    assert isinstance(rows, list)
    assert [r["model_id"] for r in rows] == [stale, fresh]
    assert rows[1]["promoted"] and not rows[0]["promoted"]
    assert (rows[0]["stale"], rows[1]["stale"]) == (True, False)
    assert rows[1]["created_at"] == "2024-01-01T01:00:00Z"
    assert (rows[1]["oos_ic"], rows[1]["oos_net_return"]) == (0.0412, 0.125)
    assert rows[0]["promotable"] is False and rows[0]["reason"] == "net return below zero"

    result = invoke("list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert fresh in out and stale in out and "stale" in out and "*" in out
    assert "2024-01-01T01:00:00Z" in out and "0.041" in out and "12.50%" in out


def test_show_prints_the_full_card_and_whether_it_is_promoted(registry: Registry) -> None:
    saved = registry.save(card(1), HEADS)
    shown = ok_json("show", saved.model_id[:7])
    assert shown == {**saved.to_json(), "promoted": False}
    registry.promote(saved.model_id, at_ms=1, reason="test")
    assert ok_json("show", saved.model_id)["promoted"] is True  # type: ignore[index]

    result = invoke("show", saved.model_id)
    assert result.exit_code == 0, result.output
    for text in (saved.model_id, "2024-01-01T01:00:00Z", "BTCUSDT, ETHUSDT", "[binary]"):
        assert text in result.stdout, text


def test_promote_and_rollback_in_json(registry: Registry) -> None:
    a, b = (registry.save(card(s), HEADS).model_id for s in (1, 2))
    assert ok_json("promote", a) == {"promoted": a, "previous": None}
    assert ok_json("promote", b, "--reason", "better IC") == {"promoted": b, "previous": a}
    assert ok_json("promote", b) == {"promoted": b, "previous": b}
    assert registry.history()[-1].reason == "better IC"
    assert ok_json("rollback") == {"promoted": a, "previous": b}
    assert registry.promoted() == a


def test_promote_and_rollback_as_text(registry: Registry) -> None:
    a, b = (registry.save(card(s), HEADS).model_id for s in (1, 2))
    assert f"promoted {a} (was none)" in invoke("promote", a).stdout
    assert f"promoted {b} (was {a})" in invoke("promote", b).stdout
    assert "already promoted" in invoke("promote", b).stdout
    result = invoke("rollback", "--reason", "live drawdown")
    assert result.exit_code == 0 and f"rolled back to {a} (was {b})" in result.stdout
    assert registry.history()[-1].reason == "live drawdown"


def test_an_unpromotable_model_needs_force(registry: Registry) -> None:
    weak = registry.save(card(1, promotable=False), HEADS).model_id
    one_line_error(invoke("promote", weak), "not promotable", "net return below zero", "--force")
    assert registry.promoted() is None
    assert ok_json("promote", weak, "--force") == {"promoted": weak, "previous": None}
    assert registry.history()[-1].forced is True


def test_promoting_a_stale_model_warns(registry: Registry) -> None:
    old = registry.save(card(1, feature_version="fv-old"), HEADS).model_id
    result = invoke("promote", old, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"promoted": old, "previous": None}
    assert "fv-old" in result.stderr and "retrained" in result.stderr


@pytest.mark.parametrize("command", [["show", "m-nope"], ["promote", "m-nope"]])
def test_an_unknown_id_is_one_line(registry: Registry, command: list[str]) -> None:
    registry.save(card(1), HEADS)
    one_line_error(invoke(*command), "no model 'm-nope'", "known: m-")
    one_line_error(invoke(*command, "--json"), "no model 'm-nope'")


def test_nothing_to_roll_back_is_one_line(registry: Registry) -> None:
    one_line_error(invoke("rollback"), "nothing to roll back to")
    one_line_error(invoke("rollback", "--json"), "nothing to roll back to")


def test_a_corrupt_registry_file_is_one_line(registry: Registry) -> None:
    registry.root.mkdir(parents=True)
    registry.registry_file.write_text("{")
    one_line_error(invoke("list"), "registry.json", "delete it")
