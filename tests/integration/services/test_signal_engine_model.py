"""The signal engine serving the model on real Redis: it warms the universe's features
from the exchange's klines, scores each bar time once all symbols' bars are in, picks up
a promotion at the next bar without a restart (an event says which model is live and
which it replaced), and keeps the model it has when the promoted one cannot be served."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.schemas import Event, MarketBar, TradeIntent
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.model.drift import DriftRules
from quantum_trader.model.registry import Registry
from quantum_trader.observability.metrics import model_metrics, model_state
from quantum_trader.services.market_feed import bar_message
from quantum_trader.services.model_serving import (
    MODEL_DRIFT,
    MODEL_LIVE,
    MODEL_REFUSED,
    ModelServing,
)
from quantum_trader.services.signal_engine import SignalEngine, SignalEngineConfig, StrategySpec
from tests.integration.model.models import SYMBOLS, trained
from tests.integration.services.market_rig import Rig

HISTORY, LIVE = 1_300, 240


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("registry") / "models"
    registry = Registry(root)
    first, second = trained(registry, seed=1), trained(registry, seed=2)
    assert first != second
    return root, first, second


def bars_of(start: int, **market: float) -> dict[int, list[MarketBar]]:
    config = MarketConfig(seed=3, start_ms=start, **{"planted_drift": 0.2, **market})
    generated = generate_market(SYMBOLS, HISTORY + LIVE, config)
    out: dict[int, list[MarketBar]] = {}
    for s in generated.bars.values():
        for i in range(len(s)):
            kline = s.bar_at(i, Decimal("0.1"), Decimal("0.001"))
            out.setdefault(i, []).append(bar_message(kline, kline.close_time + 1))
    return out


class Served:
    """A signal engine serving the registry's model over ``bars`` (the first HISTORY of
    them are the exchange's history it warms up from)."""

    def __init__(
        self, rig: Rig, root: Path, bars: dict[int, list[MarketBar]], drift: DriftRules
    ) -> None:
        self.rig, self.bars = rig, bars
        for i in range(HISTORY):
            self._venue(i)
        self.engine = SignalEngine(
            bus=rig.bus,
            effects=rig.effects,
            exchange=rig.exchange,
            clock=rig.clock,
            config=SignalEngineConfig(
                symbols=tuple(SYMBOLS),
                strategies=(StrategySpec("model", {"models_dir": str(root), "cost": 0.0012}),),
                consumer=ConsumerConfig(block_ms=0),
                model_drift=drift,
            ),
        )
        self.consumer = self.engine.consumer("se-1")
        rig.clock.set(bars[HISTORY][0].open_time)

    def _venue(self, i: int) -> None:
        for b in self.bars[i]:
            self.rig.exchange.on_bar(
                b.symbol, b.open_time, b.open, b.high, b.low, b.close, b.volume
            )

    async def feed(self, first: int, last: int) -> None:
        await self.consumer.start()
        for i in range(first, last):
            self.rig.clock.set(self.bars[i][0].close_time + 1)
            self._venue(i)
            await self.rig.bus.publish_many(self.rig.keys.market, self.bars[i])
            await self.rig.drain(self.consumer)

    async def intents(self) -> list[TradeIntent]:
        return [
            m for m in await self.rig.read(self.rig.keys.trade_intent) if isinstance(m, TradeIntent)
        ]

    async def events(self) -> list[Event]:
        found = await self.rig.read(self.rig.keys.events)
        return [m for m in found if isinstance(m, Event) and m.kind.startswith("model_")]


def registry_copy(models: tuple[Path, str, str], tmp_path: Path) -> Registry:
    shutil.copytree(models[0], tmp_path / "models")
    registry = Registry(tmp_path / "models")
    registry.promote(models[1], at_ms=2, reason="serve the first", force=True)
    return registry


async def test_a_promotion_is_served_from_the_next_bar_and_a_broken_one_is_refused(
    rig: Rig, models: tuple[Path, str, str], tmp_path: Path
) -> None:
    _, first, second = models
    registry = registry_copy(models, tmp_path)
    served = Served(rig, registry.root, bars_of(1_706_745_600_000), DriftRules())
    engine = served.engine
    await served.feed(HISTORY, HISTORY + 120)
    # the first bar's close had passed at the first message: it is history too
    assert engine.stats.warmup_bars == (HISTORY + 1) * len(SYMBOLS)
    assert engine.serving is not None and engine.serving.stats.bar_times_scored == 119
    before = await served.intents()
    assert before and all(i.strategy == "model" for i in before)

    registry.promote(second, at_ms=3, reason="a better one", force=True)
    await served.feed(HISTORY + 120, HISTORY + 121)  # the next bar: the new model
    assert engine.serving.model_id == second

    # a promoted model whose files no longer load: the engine keeps the one it serves
    assert registry.rollback(at_ms=4) == first
    (registry.root / first / "long.txt").write_text("tree\n")
    await served.feed(HISTORY + 121, HISTORY + LIVE)
    assert engine.serving.model_id == second
    events = await served.events()
    assert [(e.kind, e.evidence["model_id"], e.evidence["previous"]) for e in events] == [
        (MODEL_LIVE, first, ""),
        (MODEL_LIVE, second, first),
        (MODEL_REFUSED, first, second),  # said once, not at every bar
    ]
    assert "corrupt" in events[-1].detail or "changed" in events[-1].detail
    assert len(await served.intents()) > len(before)


@pytest.mark.parametrize("stop_entries", [True, False])
async def test_a_drifted_model_stops_entering_until_another_is_promoted(
    rig: Rig, models: tuple[Path, str, str], tmp_path: Path, stop_entries: bool
) -> None:
    _, first, second = models
    registry = registry_copy(models, tmp_path)
    rules = DriftRules(live_min_rows=150, live_check_bars=30, stop_entries=stop_entries)
    # a market three times as wild as the one the model learned on
    bars = bars_of(1_706_745_600_000, annual_vol=1.35)
    served = Served(rig, registry.root, bars, rules)
    engine = served.engine
    await served.feed(HISTORY, HISTORY + 120)
    assert engine.serving is not None
    tripped = [e for e in await served.events() if e.kind == MODEL_DRIFT]
    assert len(tripped) == 1 and "PSI" in tripped[0].detail and first in tripped[0].detail
    state = json.loads(await rig.client.get(rig.keys.model_state))
    assert state["model_id"] == first and state["drift"] is True
    assert state["entries_stopped"] is stop_entries and state["max_psi"] > rules.psi_limit
    gauges = {
        m.name: m.samples[0].value for m in model_metrics(await model_state(rig.client, rig.keys))
    }
    assert gauges["quantum_model_max_psi"] > rules.psi_limit
    assert gauges["quantum_model_entries_stopped"] == (1.0 if stop_entries else 0.0)
    trip_at = tripped[0].ts_event
    late = [i for i in await served.intents() if i.ts_init > trip_at]
    if stop_entries:
        assert not late  # REDUCE_ONLY for the model: exits are the exit brain's, untouched
    registry.promote(second, at_ms=3, reason="retrained", force=True)
    await served.feed(HISTORY + 120, HISTORY + 121)
    assert engine.serving.model_id == second and not engine.serving.stopped
    state = json.loads(await rig.client.get(rig.keys.model_state))
    assert state == {**state, "model_id": second, "entries_stopped": False}


def test_a_pinned_model_is_served_only_if_the_registry_ever_promoted_it(
    models: tuple[Path, str, str], tmp_path: Path
) -> None:
    """``model.pinned`` serves a model other than the promoted one, but never one the
    registry has not promoted (its evidence passed, or a person forced it, on the record)."""
    root, first, second = models
    copy = tmp_path / "models"
    shutil.copytree(root, copy)
    (copy / "registry.json").unlink()  # the same models, none ever promoted
    pinned = {"models_dir": str(copy), "model": first}
    with pytest.raises(ValueError, match=f"{first} \\(model.pinned\\) was never promoted"):
        ModelServing(pinned, SYMBOLS, "1m", "test")
    Registry(copy).promote(first, at_ms=1, reason="test", force=True)
    Registry(copy).promote(second, at_ms=2, reason="test", force=True)  # first: no longer
    assert ModelServing(pinned, SYMBOLS, "1m", "test").model_id == first
