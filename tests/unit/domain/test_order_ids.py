"""One client-order-id scheme for every mode: what the backtester places, the live
apply layer places, and everything that reads an id recognises it the same way."""

from __future__ import annotations

from quantum_trader.domain import order_ids as ids


def test_every_purpose_yields_a_binance_safe_id_of_ours() -> None:
    for purpose in (ids.ENTRY, ids.EXIT, ids.STOP, ids.TARGET, ids.PANIC):
        cid = ids.client_order_id(purpose, "plan-1", 3)
        assert ids.is_ours(cid) and len(cid) <= 36
        assert cid == ids.client_order_id(purpose, "plan-1", 3)  # deterministic
    assert not ids.is_ours("web_manual_1") and not ids.is_ours("e-" + "0" * 32)


def test_the_readers_classify_by_purpose() -> None:
    entry = ids.client_order_id(ids.ENTRY, "p")
    stop = ids.client_order_id(ids.STOP, "p")
    exit_ = ids.client_order_id(ids.EXIT, "p")
    assert ids.is_entry(entry) and not ids.is_entry(stop)
    assert ids.is_stop(stop) and not ids.is_stop(exit_)
    assert ids.is_exit(exit_) and ids.is_exit(stop) and not ids.is_exit(entry)


def test_a_position_opened_by_an_entry_id_is_ours_not_adopted() -> None:
    """The backtester used an id scheme of its own (``e-<32 hex>``), so the ledger's
    fold labelled every backtest position "adopted"; both derive entry ids with
    ``client_order_id(ENTRY, plan id)`` now."""
    from decimal import Decimal

    from quantum_trader.decide.position_ledger import apply_fill
    from quantum_trader.domain.enums import Side
    from quantum_trader.domain.orders import Fill

    fill = Fill(
        symbol="ETHUSDT", trade_id="1", exchange_order_id="9",
        client_order_id=ids.client_order_id(ids.ENTRY, "plan-7"), side=Side.BUY,
        price=Decimal(3000), qty=Decimal("0.1"), commission=Decimal("0.1"),
        commission_asset="USDT", realized_pnl=Decimal(0), maker=False, reduce_only=False,
        ts=0,
    )  # fmt: skip
    opened = apply_fill(None, fill, 5).position
    assert opened is not None and opened.source == "plan"
