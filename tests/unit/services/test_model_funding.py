"""The signal model's funding rates: each bar takes the last rate settled at or before its
close; the engine asks the exchange once per hour a bar closes in, again while that hour
brought nothing (a settlement published late), and never for rates it holds."""

from __future__ import annotations

import math
from decimal import Decimal

from quantum_trader.exchange.interface import FundingRate
from quantum_trader.services.model_funding import DAY_MS, HOUR_MS, RETRIES, SettledFunding

MINUTE = 60_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a funding time


def rate(symbol: str, t: int, r: str) -> FundingRate:
    return FundingRate(symbol, t, Decimal(r))


def test_a_bar_takes_the_last_rate_settled_by_its_close() -> None:
    funding = SettledFunding(["BTCUSDT", "ETHUSDT"], MINUTE)
    funding.take([rate("BTCUSDT", T0 - 8 * HOUR_MS, "0.0001"), rate("BTCUSDT", T0 + 17, "0.0003"),
                  rate("XRPUSDT", T0, "0.0009")])  # fmt: skip
    assert funding.at(T0 - MINUTE, ["BTCUSDT", "ETHUSDT"])["BTCUSDT"] == 0.0001
    assert math.isnan(funding.at(T0 - MINUTE, ["ETHUSDT"])["ETHUSDT"])  # none known
    # Binance stamps a settlement a few ms past the hour: the hour's first bar knows it
    assert funding.at(T0, ["BTCUSDT"]) == {"BTCUSDT": 0.0003}
    assert funding.at(T0 + 5 * MINUTE, ["BTCUSDT"]) == {"BTCUSDT": 0.0003}
    assert funding.taken == 2  # not the other symbol's


def test_each_hour_is_asked_for_once_and_again_while_it_brought_nothing() -> None:
    funding = SettledFunding(["BTCUSDT", "ETHUSDT"], MINUTE)
    funding.take([rate("BTCUSDT", T0 - 8 * HOUR_MS, "0.0001")])  # the warm-up's
    due = funding.due(T0 - 1)  # the last bar before the hour: its own hour is due
    assert due == (T0 - 9 * HOUR_MS, T0 - HOUR_MS)
    funding.take([], due[1])
    assert funding.due(T0 - 1) is not None  # that hour brought nothing: asked again
    for _ in range(RETRIES - 1):
        funding.take([], T0 - HOUR_MS)
    assert funding.due(T0 - 1) is None  # asked RETRIES times: taken as an hour without one
    hour = funding.due(T0 + MINUTE - 1)
    assert hour is not None and hour[1] == T0
    funding.take([rate("BTCUSDT", T0, "0.0002")], T0)  # ETH's comes later, published late
    assert funding.due(T0 + 2 * MINUTE - 1) is None
    start, _ = funding.due(T0 + HOUR_MS + MINUTE - 1) or (0, 0)
    assert start == T0 - HOUR_MS  # an hour before the newest: ETH's late one is still found
    funding.take([rate("BTCUSDT", T0, "0.0002"), rate("ETHUSDT", T0 + 40, "-0.0001")], T0 + HOUR_MS)
    assert funding.taken == 3  # BTC's was not taken twice
    assert funding.at(T0 + HOUR_MS, ["BTCUSDT", "ETHUSDT"]) == {
        "BTCUSDT": 0.0002,
        "ETHUSDT": -0.0001,
    }


def test_without_any_rate_a_request_reaches_back_a_day_at_most() -> None:
    funding = SettledFunding(["BTCUSDT"], MINUTE)
    assert funding.due(T0 + 30 * MINUTE) == (T0 - DAY_MS, T0)
