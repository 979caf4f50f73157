"""Property tests: money conservation, positions equal their fills, fills on the grid."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import START_MS

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.money import ZERO, is_multiple
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderRejected
from quantum_trader.exchange.sim import MatchingCore, SimConfig, SlippageModel

SYMBOLS = ("BTCUSDT", "XRPUSDT")
BASE_TICKS = {"BTCUSDT": 600_000, "XRPUSDT": 6_000}  # 60000.0 and 0.6000

market_action = st.tuples(
    st.just("market"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(Side),
    st.integers(1, 300),
    st.booleans(),
)
action = st.one_of(
    market_action,
    market_action,
    st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.integers(-400, 400)),
    st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), st.integers(-400, 400)),
    st.tuples(
        st.just("bar"), st.sampled_from(SYMBOLS), st.integers(-300, 300), st.integers(0, 300)
    ),
    st.tuples(
        st.just("limit"),
        st.sampled_from(SYMBOLS),
        st.sampled_from(Side),
        st.integers(1, 60),
        st.integers(-300, 300),
    ),
    st.tuples(
        st.just("stop"),
        st.sampled_from(SYMBOLS),
        st.sampled_from(Side),
        st.integers(-300, 300),
        st.sampled_from(["qty", "reduce", "close"]),
    ),
    st.tuples(st.just("time"), st.integers(1, 20 * 3_600_000)),
)


def run(actions: list[tuple[object, ...]], seed: int) -> MatchingCore:
    core = MatchingCore(
        config=SimConfig(starting_balance=D(2_000), slippage=SlippageModel(jitter_ticks=3)),
        seed=seed,
        start_ms=START_MS,
    )
    ticks = dict(BASE_TICKS)
    for symbol in SYMBOLS:
        core.set_price(symbol, ticks[symbol] * core.instrument(symbol).tick_size)
    now = START_MS
    for n, act in enumerate(actions):
        kind = act[0]
        symbol = str(act[1])
        inst = core.instrument(symbol) if kind != "time" else None
        try:
            if kind == "price" or kind == "mark":
                assert inst is not None
                # moves of up to ±20 %: large enough to reach liquidation now and then
                step = ticks[symbol] * int(act[2]) // 2000  # type: ignore[call-overload]
                ticks[symbol] = max(1000, ticks[symbol] + step)
                price = ticks[symbol] * inst.tick_size
                (core.set_price if kind == "price" else core.set_mark)(symbol, price)
            elif kind == "bar":
                assert inst is not None
                o = ticks[symbol]
                c = max(1000, o + int(act[2]))  # type: ignore[call-overload]
                spread = int(act[3])  # type: ignore[call-overload]
                h, low = max(o, c) + spread, max(500, min(o, c) - spread)
                now += 60_000
                t = inst.tick_size
                core.on_bar(symbol, now, o * t, h * t, low * t, c * t)
                ticks[symbol] = c
            elif kind == "market":
                assert inst is not None
                qty = int(act[3]) * inst.step_size * (1 if symbol == "BTCUSDT" else 100)  # type: ignore[call-overload]
                core.submit(
                    OrderRequest(
                        symbol,
                        Side(str(act[2])),
                        OrderType.MARKET,
                        f"m{n}",
                        qty,
                        reduce_only=bool(act[4]),
                    )
                )
            elif kind == "limit":
                assert inst is not None
                qty = int(act[3]) * inst.step_size * (1 if symbol == "BTCUSDT" else 100)  # type: ignore[call-overload]
                price = (ticks[symbol] + int(act[4])) * inst.tick_size  # type: ignore[call-overload]
                core.submit(OrderRequest(symbol, act[2], OrderType.LIMIT, f"l{n}", qty, price))  # type: ignore[arg-type]
            elif kind == "stop":
                assert inst is not None
                level = (ticks[symbol] + int(act[3])) * inst.tick_size  # type: ignore[call-overload]
                mode = act[4]
                qty = inst.step_size * (10 if symbol == "BTCUSDT" else 1000)
                core.submit(
                    OrderRequest(
                        symbol,
                        act[2],  # type: ignore[arg-type]
                        OrderType.STOP_MARKET,
                        f"s{n}",
                        None if mode == "close" else qty,
                        stop_price=level,
                        reduce_only=mode == "reduce",
                        close_position=mode == "close",
                        working_type=WorkingType.MARK_PRICE
                        if n % 2
                        else WorkingType.CONTRACT_PRICE,
                    )
                )
            else:
                now += int(act[1])  # type: ignore[call-overload]
                core.advance_time(now)
        except OrderRejected:
            pass
    return core


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=40), st.integers(0, 2**16))
def test_invariants(actions: list[tuple[object, ...]], seed: int) -> None:
    core = run(actions, seed)
    history = core.history()
    ledger = core.ledger()
    start = core.config.starting_balance
    # The wallet moves only by realized PnL, commissions and funding (plus insurance cover).
    assert ledger.realized_pnl == sum((f.realized_pnl for f in history.fills), ZERO)
    assert ledger.commission == sum((f.commission for f in history.fills), ZERO)
    assert ledger.funding == sum((p.amount for p in history.funding), ZERO)
    wallet = start + ledger.realized_pnl - ledger.commission + ledger.funding + ledger.insurance
    assert core.account().wallet_balance == wallet
    for symbol in SYMBOLS:
        inst = core.instrument(symbol)
        fills = [f for f in history.fills if f.symbol == symbol]
        signed = sum((f.qty if f.side is Side.BUY else -f.qty for f in fills), ZERO)
        assert core.position_qty(symbol) == signed
        for fill in fills:
            assert fill.qty > 0 and is_multiple(fill.qty, inst.step_size)
            assert is_multiple(fill.price - inst.min_price, inst.tick_size)
            assert inst.min_price <= fill.price <= inst.max_price
    # Each open order is unique by client id; every fill id is unique.
    open_ids = [o.client_order_id for o in core.open_orders()]
    assert len(open_ids) == len(set(open_ids))
    assert len({f.trade_id for f in history.fills}) == len(history.fills)


@settings(max_examples=40, deadline=None)
@given(st.lists(action, max_size=40), st.integers(0, 2**16))
def test_same_seed_same_inputs_same_history(actions: list[tuple[object, ...]], seed: int) -> None:
    first = run(actions, seed)
    second = run(actions, seed)
    assert first.history() == second.history()
    assert first.account() == second.account()
