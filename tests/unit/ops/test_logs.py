"""Logs never carry secrets, and JSON logs carry the traceback itself."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from quantum_trader.runtime.logs import configure_logging, redact


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield None
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    structlog.reset_defaults()


def test_signatures_and_keys_are_redacted_in_any_message() -> None:
    url = "GET https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature=9f86d081"
    headers = "{'X-MBX-APIKEY': 'real-key-123', 'Content-Type': 'x'}"
    assert "9f86d081" not in redact(url) and "signature=****" in redact(url)
    assert "real-key-123" not in redact(headers) and "Content-Type" in redact(headers)
    assert redact("apiKey=abc&secret=def") == "apiKey=****&secret=****"


def test_debug_logs_of_any_library_are_redacted_and_json_has_the_traceback(
    restore_logging: object, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", json_logs=True)
    logging.getLogger("ccxt.base.exchange").debug(
        "%s %s, Request: %s", "POST", "https://x/fapi/v1/order?signature=abcdef123", {"a": 1}
    )
    logging.getLogger("ccxt.base.exchange").debug("headers {'X-MBX-APIKEY': 'k-123'}")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger("quantum").exception("service loop failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    text = json.dumps(lines)
    assert "abcdef123" not in text and "k-123" not in text
    failed = lines[-1]
    assert failed["event"] == "service loop failed"
    assert "RuntimeError: boom" in failed["exception"] and "exc_info" not in failed
