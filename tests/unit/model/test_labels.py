"""Triple-barrier labels: the vectorised labeller against a bar-by-bar walk of the
simulated exchange's intrabar path, and the cases a trader would check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.model.labels import BarrierConfig, Side, triple_barrier
from quantum_trader.strategies.vector import atr as wilder_atr


def walk(o, h, lo, c, atr, config: BarrierConfig, side: Side) -> list[tuple[int, int, float]]:  # type: ignore[no-untyped-def]
    """(label, exit offset, exit price) per valid row, one bar at a time: open → the
    extreme nearer the open (ties: the high) → the other → close."""
    out = []
    n, horizon = len(c), config.horizon_bars
    for i in range(n - horizon):
        if not (math.isfinite(atr[i]) and atr[i] > 0):
            out.append((0, -1, math.nan))
            continue
        entry = o[i + 1]
        long = side is Side.LONG
        tp = (
            entry + config.take_profit_atr * atr[i]
            if long
            else entry - config.take_profit_atr * atr[i]
        )
        sl = entry - config.stop_atr * atr[i] if long else entry + config.stop_atr * atr[i]
        result = None
        for d in range(horizon):
            j = i + 1 + d
            beyond_tp = o[j] >= tp if long else o[j] <= tp
            beyond_sl = o[j] <= sl if long else o[j] >= sl
            if beyond_tp:
                result = (1, d, o[j])
                break
            if beyond_sl:
                result = (-1, d, o[j])
                break
            path = (h[j], lo[j]) if h[j] - o[j] <= o[j] - lo[j] else (lo[j], h[j])
            for extreme in path:
                if (extreme >= tp) if long else (extreme <= tp):
                    result = (1, d, tp)
                    break
                if (extreme <= sl) if long else (extreme >= sl):
                    result = (-1, d, sl)
                    break
            if result:
                break
        out.append(result or (0, horizon - 1, c[i + horizon]))
    return out


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
@pytest.mark.parametrize("config", [BarrierConfig(), BarrierConfig(1.0, 0.5, 15)])
def test_the_vectorised_labels_equal_a_bar_by_bar_walk(side: Side, config: BarrierConfig) -> None:
    market = generate_market(["BTCUSDT", "DOGEUSDT"], 3_000, MarketConfig(seed=5))
    for series in market.bars.values():
        o, h, lo, c = (
            np.asarray(getattr(series, f), dtype=float) for f in ("open", "high", "low", "close")
        )
        atr = wilder_atr(h, lo, c, 14)
        got = triple_barrier(o, h, lo, c, atr, config, side)
        expected = walk(o, h, lo, c, atr, config, side)
        rows = len(expected)
        assert not got.valid[rows:].any() and np.isnan(got.forward_return[rows:]).all()
        for i, (lab, off, price) in enumerate(expected):
            if off < 0:
                assert not got.valid[i]
                continue
            assert got.valid[i]
            assert (int(got.label[i]), int(got.exit_offset[i])) == (lab, off), i
            assert got.exit_price[i] == pytest.approx(price, rel=1e-12)
        labels = set(got.label[got.valid].tolist())
        # wide barriers: every outcome occurs; tight ones (½ ATR) are always reached
        assert labels == ({-1, 0, 1} if config == BarrierConfig() else {-1, 1})


def bars(rows: list[tuple[float, float, float, float]]) -> tuple[np.ndarray, ...]:
    return tuple(np.array(col, dtype=float) for col in zip(*rows, strict=True))


def test_the_cases_a_trader_checks_by_hand() -> None:
    config = BarrierConfig(take_profit_atr=2.0, stop_atr=1.0, horizon_bars=3)
    o, h, lo, c = bars([
        (100, 101, 99, 100),   # 0: the signal bar (ATR 1 → TP 102, stop 99 from entry 100)
        (100, 101, 99.5, 100),  # 1: entry at 100; nothing touched
        (100, 102.5, 100, 102),  # 2: the high reaches 102: take-profit at 102
        (102, 102, 90, 91),
        (91, 92, 90, 91),
    ])  # fmt: skip
    atr = np.ones(len(c))
    got = triple_barrier(o, h, lo, c, atr, config)
    assert (got.label[0], got.exit_offset[0], got.exit_price[0]) == (1, 1, 102.0)
    assert got.barrier_return[0] == pytest.approx(0.02)
    assert got.forward_return[0] == pytest.approx(91 / 100 - 1)  # close[3] / entry − 1
    # bar 1's signal: entry 100 at bar 2, whose own high reaches the take-profit
    assert (got.label[1], got.exit_offset[1], got.exit_price[1]) == (1, 0, 102.0)
    # the last rows have no full horizon
    assert not got.valid[2:].any()


def test_a_bar_through_both_barriers_takes_the_nearer_extreme_first() -> None:
    config = BarrierConfig(take_profit_atr=1.0, stop_atr=1.0, horizon_bars=1)
    # entry bar opens at 100, nearer extreme the low (99.5 → 1 below is 99): stop first
    o, h, lo, c = bars([(100, 100, 100, 100), (100, 101.5, 98.9, 101), (101, 101, 101, 101)])
    got = triple_barrier(o, h, lo, c, np.ones(3), config)
    assert (got.label[0], got.exit_price[0]) == (-1, 99.0)
    o, h, lo, c = bars([(100, 100, 100, 100), (100, 101.0, 98.5, 99), (99, 99, 99, 99)])
    got = triple_barrier(o, h, lo, c, np.ones(3), config)
    assert (got.label[0], got.exit_price[0]) == (1, 101.0)  # high nearer: take-profit


def test_a_gap_through_the_stop_exits_at_the_open_and_time_barrier_at_the_close() -> None:
    config = BarrierConfig(take_profit_atr=5.0, stop_atr=1.0, horizon_bars=2)
    o, h, lo, c = bars(
        [(100, 100, 100, 100), (100, 100.5, 99.5, 100), (97, 97.5, 96, 97), (97, 97, 97, 97)]
    )
    got = triple_barrier(o, h, lo, c, np.ones(4), config)
    assert (got.label[0], got.exit_offset[0], got.exit_price[0]) == (-1, 1, 97.0)
    calm = BarrierConfig(take_profit_atr=5.0, stop_atr=5.0, horizon_bars=2)
    got = triple_barrier(o, h, lo, c, np.ones(4), calm)
    assert (got.label[0], got.exit_offset[0], got.exit_price[0]) == (0, 1, 97.0)


def test_a_label_reads_nothing_beyond_its_horizon() -> None:
    market = generate_market(["ETHUSDT"], 800, MarketConfig(seed=9))
    s = market.bars["ETHUSDT"]
    o, h, lo, c = (
        np.asarray(getattr(s, f), dtype=float).copy() for f in ("open", "high", "low", "close")
    )
    atr = wilder_atr(h, lo, c, 14)
    config = BarrierConfig(horizon_bars=30)
    before = triple_barrier(o, h, lo, c, atr, config)
    j = 400
    for a in (o, h, lo, c):
        a[j + config.horizon_bars + 1 :] *= 1.5  # the future after row j's horizon moves
    after = triple_barrier(o, h, lo, c, atr, config)
    assert np.array_equal(before.label[: j + 1], after.label[: j + 1])
    assert np.allclose(
        before.forward_return[: j + 1], after.forward_return[: j + 1], equal_nan=True
    )


@pytest.mark.parametrize(
    ("field", "value"), [("take_profit_atr", 0.0), ("stop_atr", -1.0), ("horizon_bars", 0)]
)
def test_bad_barriers_are_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BarrierConfig(**{field: value})  # type: ignore[arg-type]
