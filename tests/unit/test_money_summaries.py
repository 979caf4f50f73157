"""Every summary shows the same money in the same words: starting_balance, ending_equity,
realized_pnl, fees, funding (+ received, − paid) and net_pnl = realized − fees + funding."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from quantum_trader.cli import run as run_cli
from quantum_trader.cli import run_output
from quantum_trader.config import load_settings
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.observability import status
from quantum_trader.ops.run_summary import RunSummary, venue_money
from quantum_trader.ops.stepped.report import ChaosReport, account_money
from quantum_trader.services.journal import MONEY_KEYS, AccountMark, Journal

D = Decimal
T = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a funding time
HOUR = 3_600_000


def traded_core() -> MatchingCore:
    """Long 0.1 BTC from 07:00 to 09:00: one funding settlement at 08:00, then flat."""
    core = MatchingCore(seed=0, start_ms=T + 7 * HOUR)
    core.set_price("BTCUSDT", D("60000"), T + 7 * HOUR)
    core.submit(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "qe-1", D("0.1")))
    core.set_price("BTCUSDT", D("61000"), T + 9 * HOUR)
    core.submit(
        OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, "qx-1", D("0.1"), reduce_only=True)
    )
    return core


def test_the_venue_money_adds_up() -> None:
    core = traded_core()
    money = venue_money(core, T + 9 * HOUR)
    assert money.starting_balance == D(10_000)
    assert money.funding < 0  # the long paid the positive flat rate at 08:00
    assert money.fees > 0 and money.realized_pnl > 0
    assert money.net_pnl == money.realized_pnl - money.fees + money.funding
    assert money.ending_equity == money.starting_balance + money.net_pnl  # flat at the end
    assert tuple(money.summary()) == MONEY_KEYS


def summary(money: AccountMark) -> RunSummary:
    m = money.summary()
    return RunSummary(
        mode="paper", market_hours=2.0, symbols=["BTCUSDT"], entries=1,
        exits_by_reason={"stop": 1}, skipped_by_reason={},
        starting_balance=m["starting_balance"], ending_equity=m["ending_equity"],
        realized_pnl=m["realized_pnl"], fees=m["fees"], funding=m["funding"],
        net_pnl=m["net_pnl"], open_positions=0, dead_letters=0, restarts=0,
        reconcile_repairs=0, invariants={},
    )  # fmt: skip


def test_run_summary_json_and_table_show_net_pnl(monkeypatch: pytest.MonkeyPatch) -> None:
    money = venue_money(traded_core(), T + 9 * HOUR)
    data = summary(money).to_json()
    assert {k: data[k] for k in MONEY_KEYS} == money.summary()
    recorder = Console(record=True, width=200)
    monkeypatch.setattr(run_output, "console", recorder)  # where the tables print
    run_cli.show(summary(money))
    lines = recorder.export_text().splitlines()
    for label, key in (
        ("starting balance (USDT)", "starting_balance"),
        ("ending equity (USDT)", "ending_equity"),
        ("funding (USDT; + received, − paid)", "funding"),
        ("net PnL (USDT; realized − fees + funding)", "net_pnl"),
    ):
        row = [line for line in lines if label in line]
        assert row and row[0].split("│")[2].strip() == data[key], label


def test_chaos_report_has_the_money_keys() -> None:
    core = traded_core()
    fills = list(core.history().fills)
    report = ChaosReport({}, {}, {}, 1.0, money=account_money(fills, venue_money(core, T)))
    data = report.to_json()
    assert {k: data[k] for k in MONEY_KEYS} == venue_money(core, T).summary()
    without = account_money(fills, None)  # the run passed no account: fills only
    assert without["starting_balance"] is None and without["funding"] is None
    net = D(without["realized_pnl"]) - D(without["fees"])
    assert D(without["net_pnl"]) == net == D(data["realized_pnl"]) - D(data["fees"])


async def test_status_shows_the_last_journalled_account(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    journal.close()
    before = status.harvest(settings)
    assert before is not None and before["funding"] is None
    assert before["net_pnl"] == "0" and "funding not journalled" in before["money_source"]
    money = venue_money(traded_core(), T + 9 * HOUR)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    await journal.record_account(money)
    journal.close()
    after = status.harvest(settings)
    assert after is not None and {k: after[k] for k in MONEY_KEYS} == money.summary()
    line = status.money_line(after)
    assert f"net PnL (realized − fees + funding) {money.summary()['net_pnl']}" in line
    assert "funding (+ received, − paid)" in line and "starting balance 10000" in line
