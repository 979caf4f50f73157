"""The reference EMA(12/26) cross: document rules, and incremental == vectorised exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import FLAT, RefEmaCross, get_strategy, ref_ema_cross_signals, vector
from tests.unit.strategies.strategy_bars import bars_from_closes, ramp, run


def v_shape_then_roll_over() -> list[float]:
    return [*ramp(140.0, -1.0, 40), *ramp(100.0, 1.0, 30), *ramp(130.0, -1.0, 30)]


def incremental_crosses(closes: list[float], **params: object) -> tuple[list[int], list[int]]:
    signals = run(get_strategy("ref_ema_cross", **params), bars_from_closes(closes, wick=0.0))
    ups = [i for i, s in signals if s.side is PositionSide.LONG]
    downs = [i for i, s in signals if s.side is FLAT]
    assert len(ups) + len(downs) == len(signals)
    return ups, downs


def test_long_on_cross_up_and_flat_on_cross_down() -> None:
    closes = v_shape_then_roll_over()
    signals = run(RefEmaCross(), bars_from_closes(closes))
    assert [(i, s.side) for i, s in signals] == [(54, PositionSide.LONG), (83, FLAT)]
    gap = vector.ema(closes, 12) - vector.ema(closes, 26)
    assert gap[53] < 0 < gap[54] and gap[82] > 0 > gap[83]


def test_signal_carries_the_fixed_fraction_stop_and_target() -> None:
    closes = v_shape_then_roll_over()
    [(_, entry), _] = run(RefEmaCross(stop_pct=0.002, target_pct=0.003), bars_from_closes(closes))
    assert (entry.stop_pct, entry.target_pct) == (0.002, 0.003)
    assert entry.stop_distance == pytest.approx(entry.price * 0.002)
    assert entry.take_profit_distance == pytest.approx(entry.price * 0.003)
    assert entry.confidence == 1.0 and entry.price == closes[54]


def test_no_signal_before_bar_26_even_on_a_real_cross() -> None:
    closes = [*ramp(110.0, -1.0, 10), *ramp(100.0, 2.0, 30)]  # crosses up around bar 12
    gap = vector.ema(closes, 12) - vector.ema(closes, 26)
    crossed = [t for t in range(1, len(closes)) if gap[t - 1] < 0 < gap[t]]
    assert crossed and crossed[0] < 26
    assert incremental_crosses(closes) == ([], [])
    up, down = ref_ema_cross_signals(np.array(closes))
    assert not up.any() and not down.any()


def test_move_away_from_an_exact_tie_is_not_a_signal() -> None:
    # A flat market keeps both EMAs exactly equal (d == 0), so the first move off it
    # goes from "neither" to "above": not a strict cross, in either implementation.
    closes = [5.0] * 30 + [6.0] * 5 + [4.0] * 5
    gap = vector.ema(closes, 12) - vector.ema(closes, 26)
    assert (gap[:30] == 0.0).all() and gap[30] > 0.0
    up, down = ref_ema_cross_signals(np.array(closes))
    ups, downs = incremental_crosses(closes)
    assert np.flatnonzero(up).tolist() == ups == []
    assert np.flatnonzero(down).tolist() == downs != []  # the later drop below is a real cross


@settings(max_examples=80, deadline=None)
@given(
    moves=st.lists(
        st.one_of(st.just(0.0), st.floats(-3.0, 3.0, allow_nan=False)), min_size=1, max_size=150
    ),
    start=st.floats(50.0, 50_000.0),
)
def test_vectorised_signals_match_incremental_exactly(moves: list[float], start: float) -> None:
    closes, price = [], start
    for move in moves:
        price = max(1.0, price + move)
        closes.append(price)
    up, down = ref_ema_cross_signals(np.array(closes))
    assert incremental_crosses(closes) == (
        np.flatnonzero(up).tolist(),
        np.flatnonzero(down).tolist(),
    )


def test_vectorised_signals_honour_custom_spans_and_reject_bad_ones() -> None:
    closes = v_shape_then_roll_over()
    up, down = ref_ema_cross_signals(np.array(closes), fast=5, slow=10)
    ups, downs = incremental_crosses(closes, fast=5, slow=10)
    assert (np.flatnonzero(up).tolist(), np.flatnonzero(down).tolist()) == (ups, downs)
    with pytest.raises(ValueError, match="'fast'"):
        ref_ema_cross_signals(np.array(closes), fast=26, slow=12)
    assert ref_ema_cross_signals(np.array([]))[0].size == 0
