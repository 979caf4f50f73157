"""The signal model inside the signal engine: one batched score per bar time.

The market stream brings one ``MarketBar`` per symbol; the model scores the universe at
once (``strategies.model_live.LiveModel``). :class:`ModelServing` holds each bar time's
bars until the time is complete — every symbol of the universe has its bar there, or a
bar of a later time has arrived (a symbol without a bar at that time, as in the
backtest, is left out of its cross-section) — then scores it, oldest time first.

Which model: the one named by the strategy's ``model`` parameter (``model.pinned``; one
the registry has promoted at some time), or else the registry's promoted model, which is
looked up again before each bar time is scored. A promotion (or a rollback) is therefore
served from the next bar on, without a restart: the new model is loaded and checked first
(a model that cannot be served leaves the old one in place, with a warning event), and a
``model_live`` event on the events stream says which model is live and which it replaced.
With no model to serve, the engine does not start.

On start the engine's warm-up klines go through the same steps, oldest time first,
without signalling (their intents were the previous process's to publish).

Funding: a bar's funding feature is the last rate settled at or before its close, as in
training and the backtest; the engine fetches the settled rates from the exchange
(:mod:`quantum_trader.services.model_funding` says when).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import stream_messages
from quantum_trader.bus.schemas import Event, MarketBar, derive_id
from quantum_trader.data.bars import interval_ms
from quantum_trader.domain.klines import Kline
from quantum_trader.model.drift import DriftRules
from quantum_trader.model.drift_watch import DriftWatch
from quantum_trader.model.registry import ModelError, Registry
from quantum_trader.services.model_funding import SettledFunding
from quantum_trader.strategies.base import Signal, get_strategy
from quantum_trader.strategies.model import ModelStrategy
from quantum_trader.strategies.model_live import OHLCV, LiveModel

log = structlog.get_logger(__name__)

MODEL_LIVE = "model_live"  # event kind: this model now scores the bars
MODEL_REFUSED = "model_refused"  # event kind: a promoted model could not be served
MODEL_DRIFT = "model_drift"  # event kind: the model in service drifted or decayed
RECENT_BARS = 60  # a symbol with no bar for this many bar times no longer holds one up


async def models_served(redis: aioredis.Redis, keys: Keys) -> list[str]:
    """The models that went live, in order, from their events still on the stream (what
    a run summary reports as ``models``)."""
    return [
        e.evidence.get("model_id", "")
        for e in await stream_messages(redis, keys.events)
        if isinstance(e, Event) and e.kind == MODEL_LIVE
    ]


def _finite(value: Any) -> Any:
    """JSON has no NaN: a number that is not finite is unknown (None)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _ohlcv(bar: MarketBar | Kline) -> OHLCV:
    return float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume)


@dataclass
class ServingStats:
    bar_times_scored: int = 0
    swaps: int = 0
    refused: int = 0
    late_bars: int = 0  # bars that came after their time was scored
    models: list[str] = field(default_factory=list)  # every model served, in order


class ModelServing:
    """The model strategy of one signal engine (module docstring)."""

    def __init__(
        self,
        params: Mapping[str, Any],
        symbols: Sequence[str],
        interval: str,
        source: str,
        drift: DriftRules | None = None,
    ) -> None:
        self.params = dict(params)
        self.drift = drift or DriftRules()
        self.watch: DriftWatch | None = None
        self.stopped = ""  # why the model in service may not enter (drift / decay)
        self.state: dict[str, Any] = {}  # for ``model:state``: what the metrics show
        self.state_changed = False
        self.symbols = tuple(symbols)
        self.interval = interval
        self.interval_ms = interval_ms(interval)
        self.source = source
        self.registry = Registry(Path(str(self.params.get("models_dir", ""))))
        self.pending: dict[int, dict[str, MarketBar]] = {}
        self.funding = SettledFunding(self.symbols, self.interval_ms)
        self.newest = -1  # the newest bar time seen
        self.stats = ServingStats()
        self.events: list[Event] = []  # to publish: model_live / model_refused
        self._refused = ""  # the model last refused: said once, not at every bar
        base = str(self.params.get("filter", ""))
        self.live = LiveModel(self.symbols, interval, base=get_strategy(base) if base else None)
        # A pinned model, or the promoted one, is loaded now: one that cannot be served
        # stops the start with its reason rather than trading nothing in silence.
        first = str(self.params.get("model", "")) or self.registry.promoted()
        if not first:
            raise ValueError(
                f"model: no model is promoted in {self.registry.root}; train one (quantum "
                "model train) or promote one (quantum model promote ID)"
            )
        self._first: ModelStrategy | None = self._load(first)
        if first != self.registry.promoted():
            self._check_promoted_once(self._first.model_id)
        self.live.swap(self._first)

    def _check_promoted_once(self, model_id: str) -> None:
        """A pinned model trades only if it has been promoted (its evidence passed, or a
        person forced it, on the record): a running system serves no model the registry
        never promoted."""
        if not any(
            e.model_id == model_id and e.action == "promote" for e in self.registry.history()
        ):
            raise ValueError(
                f"model: {model_id} (model.pinned) was never promoted; a running system "
                f"serves promoted models only: quantum model promote {model_id} (--force to "
                "override its evidence)"
            )

    @property
    def model_id(self) -> str:
        return self.live.model_id

    def warm_up(self, klines: Mapping[str, Sequence[Kline]], now: int) -> None:
        """Fold the closed klines of every symbol, oldest time first, signalling nothing;
        then say which model is live."""
        at: dict[int, dict[str, OHLCV]] = {}
        for symbol, rows in klines.items():
            for k in rows:
                at.setdefault(k.open_time, {})[symbol] = _ohlcv(k)
        for t in sorted(at):
            self.live.step(t, at[t], emit=False, funding=self.funding.at(t, at[t]))
            self.newest = max(self.newest, t)
        if self._first is not None:
            self._announce(self._first.model_id, "", now)
            self._first = None

    def take(self, bar: MarketBar, now: int) -> list[tuple[Signal, MarketBar]]:
        """Add one closed bar; the entries of every bar time this completes."""
        if bar.open_time <= self.newest and bar.open_time not in self.pending:
            # its time was scored without it (it came after a later bar): its features
            # still advance, its cross-section is gone
            at = {bar.symbol: _ohlcv(bar)}
            self.live.fold(bar.open_time, at, self.funding.at(bar.open_time, at))
            self.stats.late_bars += 1
            return []
        self.pending.setdefault(bar.open_time, {})[bar.symbol] = bar
        self.newest = max(self.newest, bar.open_time)
        expected = len(self._trading() | self.pending[self.newest].keys())
        out: list[tuple[Signal, MarketBar]] = []
        for t in sorted(self.pending):
            bars = self.pending[t]
            if t == self.newest and len(bars) < expected:
                break  # the newest time still waits for a symbol that trades
            del self.pending[t]
            out += self._score(t, bars, now)
        return out

    def _trading(self) -> set[str]:
        """The symbols with a bar in the last ``RECENT_BARS`` bar times: a bar time waits
        for them (a symbol that stopped trading stops holding the universe up)."""
        since = self.newest - RECENT_BARS * self.interval_ms
        return {s for s, t in self.live.last_time.items() if t >= since}

    def _score(
        self, t: int, bars: dict[str, MarketBar], now: int
    ) -> list[tuple[Signal, MarketBar]]:
        self._follow_promotion(now)
        signals = self.live.step(
            t, {s: _ohlcv(b) for s, b in bars.items()}, funding=self.funding.at(t, bars)
        )
        self.stats.bar_times_scored += 1
        self._watch_drift(t, bars, now)
        if self.stopped and self.drift.stop_entries:
            return []  # REDUCE_ONLY for the model until another one is promoted
        return [(signal, bars[signal.symbol]) for signal in signals]

    def _watch_drift(self, t: int, bars: dict[str, MarketBar], now: int) -> None:
        scored, self.live.scored = self.live.scored, None
        if self.watch is None or scored is None:
            return
        symbols, features, scores, _ = scored
        prices = {s: (float(bars[s].open), float(bars[s].close)) for s in symbols}
        verdict = self.watch.observe(t, symbols, features, scores, prices)
        if verdict is None:
            return
        self._set_state(verdict)
        if (verdict["drift"] or verdict["decay"]) and not self.stopped:
            self.stopped = str(verdict["reason"])
            self._set_state(verdict)
            then = (
                "its entries stop until another model is promoted"
                if (self.drift.stop_entries)
                else "it keeps trading (model.drift.stop_entries is off)"
            )
            detail = f"{self.model_id}: {self.stopped}; {then}"
            log.warning("model drifted", model=self.model_id, reason=self.stopped)
            self.events.append(self._event(MODEL_DRIFT, "warning", detail, self.model_id, "", now))

    def _set_state(self, verdict: Mapping[str, Any]) -> None:
        self.state = {
            "model_id": self.model_id,
            "entries_stopped": bool(self.stopped and self.drift.stop_entries),
            "reason": self.stopped,
            **{k: _finite(verdict.get(k)) for k in ("drift", "decay", "max_psi", "hit_rate",
                                                    "expected_hit_rate", "hit_p_value", "trials")},
        }  # fmt: skip
        self.state_changed = True

    def _follow_promotion(self, now: int) -> None:
        if self.params.get("model"):
            return  # pinned
        try:
            promoted = self.registry.promoted() or ""
        except ModelError as exc:
            self._refuse("", str(exc), now)
            return
        if not promoted or promoted == self.model_id or promoted == self._refused:
            return
        previous = self.model_id
        try:
            self.live.swap(self._load(promoted))
        except ValueError as exc:
            self._refuse(promoted, str(exc), now)
            return
        self.stats.swaps += 1
        self._announce(promoted, previous, now)

    def _watch_for(self, strategy: ModelStrategy | None) -> DriftWatch | None:
        """A drift watch against the card's training distribution and out-of-sample hit
        rate (none for a model without them)."""
        card = strategy.card if strategy is not None else None
        if card is None or strategy is None:
            return None
        reference = card.evidence.get("drift_reference")
        expected = card.evidence.get("oos", {}).get("hit_rate")
        if not isinstance(reference, dict) or not isinstance(expected, int | float):
            return None
        return DriftWatch(
            reference, strategy.scorer.names, float(expected), strategy.barrier.horizon_bars,
            self.interval_ms, self.drift,
        )  # fmt: skip

    def _load(self, model_id: str) -> ModelStrategy:
        return ModelStrategy(**{**self.params, "model": model_id})

    def _announce(self, model_id: str, previous: str, now: int) -> None:
        self.stats.models.append(model_id)
        self._refused, self.stopped = "", ""
        self.watch = self._watch_for(self.live.strategy)
        self._set_state({})
        detail = f"{model_id} scores the bars" + (f", replacing {previous}" if previous else "")
        log.info("model live", model=model_id, previous=previous or None)
        self.events.append(self._event(MODEL_LIVE, "info", detail, model_id, previous, now))

    def _refuse(self, model_id: str, reason: str, now: int) -> None:
        if self._refused == model_id and self.stats.refused:
            return
        self._refused = model_id
        self.stats.refused += 1
        log.warning("model not served", model=model_id, reason=reason)
        self.events.append(
            self._event(MODEL_REFUSED, "warning", reason, model_id, self.model_id, now)
        )

    def _event(
        self, kind: str, severity: str, detail: str, model_id: str, previous: str, now: int
    ) -> Event:
        return Event(
            msg_id=derive_id(kind, self.source, model_id, previous, str(now)),
            ts_event=now,
            ts_init=now,
            source=self.source,
            kind=kind,
            severity=severity,
            detail=detail,
            evidence={"model_id": model_id, "previous": previous, "strategy": "model"},
        )
