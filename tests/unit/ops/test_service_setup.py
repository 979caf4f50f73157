"""A forked service gets the orchestrator's settings whole: every secret in plain text
(a masked one would fail validation in the child, or sign with the wrong key)."""

from __future__ import annotations

import json

from quantum_trader.config import load_settings
from quantum_trader.ops.service_main import ServiceSetup


def test_every_secret_reaches_a_forked_service_unmasked() -> None:
    settings = load_settings(
        binance_api_key="key-123",
        binance_api_secret="secret-456",
        dashboard={
            "jwt_secret": "s" * 40,
            "users": {
                "ops": {"password": "$argon2id$v=19$m=65536,t=3,p=4$abc$def", "role": "admin"}
            },
        },
        notify={"targets": {"chat": {"kind": "generic", "url": "https://hooks.example/T0K3N"}}},
    )
    setup = ServiceSetup(settings, "http://127.0.0.1:1", ("BTCUSDT",))
    piped = json.loads(json.dumps(setup.to_json()))  # as the pipe carries it
    child = ServiceSetup.from_json(piped).settings
    assert child.binance_api_key is not None and child.binance_api_secret is not None
    assert child.binance_api_key.get_secret_value() == "key-123"
    assert child.binance_api_secret.get_secret_value() == "secret-456"
    assert child.dashboard.jwt_secret is not None
    assert child.dashboard.jwt_secret.get_secret_value() == "s" * 40
    assert child.dashboard.users["ops"].password.get_secret_value().startswith("$argon2id$")
    assert child.notify.targets["chat"].url.get_secret_value() == "https://hooks.example/T0K3N"
    assert child.model_dump(mode="json") == settings.model_dump(mode="json")
