"""FAILURES #20, #21 and #24.

#20 "'live' mode flag set but writes blocked elsewhere" — several overlapping mode flags.
#21 "a subscriber executed trade intents directly, bypassing every risk gate" — more than
one path to the exchange.
#24 "one worker held production keys while the rest ran on testnet" — no startup
self-check of the environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import quantum_trader
from quantum_trader.bootstrap import venue_for
from quantum_trader.config import ConfigError, Mode, Settings, load_settings
from quantum_trader.exchange import ccxt_binance
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange

SRC = Path(quantum_trader.__file__).parent
MAY_PLACE_ORDERS = {
    "services/apply_layer.py",
    "services/protective_stop.py",
    "services/order_router.py",
    "services/position_monitor.py",
}


def test_failure_20_one_mode_setting_and_a_bad_value_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = ("mode", "live", "testnet", "paper", "dry", "demo", "sim")
    flags = [
        name
        for name in Settings.model_fields
        if name != "model"  # the signal model's section, not a mode flag
        and any(w in name for w in words)
    ]
    assert flags == ["mode"]
    assert {m.value for m in Mode} == {"backtest", "paper", "demo", "live"}
    for bad in ("livee", "testnet", "live,paper"):
        with pytest.raises(ConfigError) as err:
            load_settings(mode=bad)
        assert "\n" not in str(err.value) and "mode" in str(err.value)
    monkeypatch.setenv("QUANTUM_MODE", "demo")
    assert load_settings().mode is Mode.DEMO
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(live_trading=True)


def test_failure_21_only_the_execution_modules_call_create_order() -> None:
    callers = set()
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_order"
            ):
                callers.add(rel)
    outside = {c for c in callers if c not in MAY_PLACE_ORDERS and not c.startswith("exchange/")}
    assert outside == set()
    assert "services/order_router.py" in callers


def test_failure_24_keys_only_from_env_or_secret_file_and_live_needs_confirmation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ccxt_binance.KEY_ENV, raising=False)
    monkeypatch.delenv(ccxt_binance.SECRET_ENV, raising=False)
    with pytest.raises(ValueError, match="i_understand_live"):
        CcxtBinanceExchange("live")
    with pytest.raises(ValueError, match=ccxt_binance.KEY_ENV):
        CcxtBinanceExchange("demo")  # no silent fallback to some other keys
    with pytest.raises(ValueError, match="mode must be"):
        CcxtBinanceExchange("testnet")  # type: ignore[arg-type]
    secret = tmp_path / "binance.secret"
    secret.write_text("file-key\nfile-secret\n")
    assert ccxt_binance.load_credentials(secret) == ("file-key", "file-secret")
    from_file = venue_for(
        load_settings(binance_secret_file=secret), "demo", base_url="", user_stream=False
    )
    assert from_file.ccxt_client.apiKey == "file-key"
    monkeypatch.setenv(ccxt_binance.KEY_ENV, "env-key-123")
    monkeypatch.setenv(ccxt_binance.SECRET_ENV, "env-secret-456")
    with pytest.raises(ValueError, match=ccxt_binance.KEY_ENV):
        CcxtBinanceExchange("demo")  # the adapter reads no environment: settings do
    demo = venue_for(load_settings(), "demo", base_url="", user_stream=False)
    assert demo.ccxt_client.apiKey == "env-key-123"
    assert "env-key" not in repr(demo) and "env-secret" not in repr(demo)
    assert demo.mode == "demo" and "demo" in repr(demo)
    settings = Settings(binance_api_key="env-key-123", binance_api_secret="env-secret-456")
    shown = settings.masked()
    assert shown["binance_api_key"] == "****" and "env-secret-456" not in str(shown)
    assert "env-secret-456" not in repr(settings)
