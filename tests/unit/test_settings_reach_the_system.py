"""Every setting changes what the system does, and every mode is built the same way.

Each trading and bus setting is perturbed in turn and must change what the composition
root hands the services (``bootstrap.trading_config``); a setting that changed nothing
would be configuration that nothing reads (FAILURES #17, #20, #25). The few settings
that steer infrastructure rather than trading are proven by the tests named in
``PROVEN_ELSEWHERE``, which this test checks exist.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.bootstrap import engine_config, strategy_params, trading_config
from quantum_trader.config import Mode, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "quantum_trader"

LOGS = "tests/integration/test_cli_errors.py::test_log_settings_come_from_the_environment"
SYSTEMD = (
    "tests/integration/ops/test_sd_notify_service.py::"
    "test_a_service_under_systemd_reads_its_credentials_and_says_ready_alive_stopping"
)
# Settings that steer where state lives, how the process logs and which venue it talks
# to: each is proven by a behaviour test of its own.
PROVEN_ELSEWHERE = {
    "mode": "tests/integration/test_cli_errors.py::test_quantum_mode_selects_the_mode_of_a_run",
    "redis_url": "tests/integration/ops/test_run_trust.py::"
    "test_a_run_on_a_redis_holding_another_systems_state_touches_none_of_it",
    "key_prefix": "tests/integration/ops/test_run_trust.py::"
    "test_a_run_on_a_redis_holding_another_systems_state_touches_none_of_it",
    "data_dir": "tests/integration/ops/test_run_trust.py::"
    "test_a_second_run_on_the_same_data_directory_fails_at_once_naming_the_holder",
    "log_json": LOGS,
    "log_level": LOGS,
    "stream_maxlen": "tests/integration/ops/test_run_survives.py::"
    "test_a_run_builds_its_bus_and_heartbeats_from_the_settings",
    "binance_api_key": "tests/chaos/test_failure_20_21_24_one_path_one_mode.py::"
    "test_failure_24_keys_only_from_env_or_secret_file_and_live_needs_confirmation",
    "binance_api_secret": "tests/chaos/test_failure_20_21_24_one_path_one_mode.py::"
    "test_failure_24_keys_only_from_env_or_secret_file_and_live_needs_confirmation",
    "model": "tests/integration/model/test_training.py::"
    "test_every_model_setting_reaches_the_training_run",
    "binance_secret_file": "tests/chaos/test_failure_20_21_24_one_path_one_mode.py::"
    "test_failure_24_keys_only_from_env_or_secret_file_and_live_needs_confirmation",
    # the operator's dashboard: where it listens, its users, logins and action limits
    "dashboard": "tests/integration/dashboard/test_dashboard_api.py::"
    "test_the_dashboard_listens_and_logs_in_as_its_settings_say",
    # where each process serves /metrics and /health, how often the exporter reads the
    # exchange: a real Prometheus scrapes every process on the ports the settings give
    "metrics": "tests/integration/alerting/test_prometheus_e2e.py::"
    "test_prometheus_alerts_on_a_killed_exit_brain_and_every_panel_has_data",
    # where the notifier sends, how hard it tries, how fast, what it remembers, when a
    # service counts as dead: each field steers a notifier on a real Redis
    "notify": "tests/integration/alerting/test_notifier.py::"
    "test_every_notify_setting_steers_the_notifier",
    # where the primary is found (sentinels, its name, passwords) and how many replicas
    # the apply layer's writes must reach: a real failover rides on every one of them
    "redis": "tests/integration/infra/test_sentinel_failover.py::"
    "test_every_component_rides_through_two_failovers",
    # what systemd hands a unit's process: its notify socket, its watchdog, its
    # credentials (a real `quantum service watchdog` talks to the test's socket and
    # finds its Redis in the credentials directory)
    "notify_socket": SYSTEMD,
    "watchdog_usec": SYSTEMD,
    "credentials_directory": SYSTEMD,
    # where a paper run and a backtest start trading: not a service's parameter
    "strategies.history_bars": "tests/integration/ops/test_run_backtest_pair.py::"
    "test_run_and_backtest_of_the_same_files_list_the_same_trades",
}
OTHER_CHOICES: dict[str, Any] = {
    "strategies.names": ["breakout"],
    "strategies.interval": "5m",
    "strategies.warmup_bars": 100,
    "trading_symbols": ["SOLUSDT"],
    "exits.harvest.tranches": [{"at_r": "1.5", "action": "PARTIAL_50"}],
    # the shards an executor asks for first (sharding.*: the apply layer's leases and
    # lanes, the bridge's and the exit brain's routing; tests/integration/apply/
    # test_sharding.py runs them)
    "sharding.prefer": [0],
}


def leaves(value: Any, within: str = "") -> list[tuple[str, Any]]:
    """(dotted name, value) of every setting; sections are stdlib/pydantic dataclasses."""
    out: list[tuple[str, Any]] = []
    names = (
        [f.name for f in dataclasses.fields(value)]
        if dataclasses.is_dataclass(value)
        else list(type(value).model_fields)
    )
    for name in names:
        item = getattr(value, name)
        dotted = f"{within}{name}"
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            out += leaves(item, f"{dotted}.")
        else:
            out.append((dotted, item))
    return out


def other(name: str, value: Any) -> Any:
    """A valid value unlike ``value``."""
    if name in OTHER_CHOICES:
        return OTHER_CHOICES[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value < 1_000_000 else value - 1
    if isinstance(value, Decimal):
        return str(value * Decimal("0.9") if value > 0 else Decimal("0.01"))
    if isinstance(value, float):
        return value * 0.9
    if isinstance(value, Enum):
        return next(m.value for m in type(value) if m != value)
    raise AssertionError(f"no other value known for {name} = {value!r}: add it to OTHER_CHOICES")


def nested(name: str, value: Any) -> dict[str, Any]:
    head, _, rest = name.partition(".")
    return {head: nested(rest, value) if rest else value}


DEFAULTS = Settings()
TRADING = [
    (n, v)
    for n, v in leaves(DEFAULTS)
    if n not in PROVEN_ELSEWHERE and n.split(".")[0] not in PROVEN_ELSEWHERE
]


@pytest.mark.parametrize(("name", "value"), TRADING, ids=[n for n, _ in TRADING])
def test_each_trading_and_bus_setting_changes_what_the_services_get(name: str, value: Any) -> None:
    changed = load_settings(**nested(name, other(name, value)))
    assert dict(leaves(changed))[name] != value, f"{name} did not take the new value"
    assert trading_config(changed) != trading_config(DEFAULTS), f"{name} reaches no service"


LIVE_DRIFT = [(n, v) for n, v in leaves(DEFAULTS) if n.startswith("model.drift.")]


@pytest.mark.parametrize(("name", "value"), LIVE_DRIFT, ids=[n for n, _ in LIVE_DRIFT])
def test_each_drift_setting_reaches_the_signal_engine_that_serves_the_model(
    name: str, value: Any
) -> None:
    """The model section is the training run's (its test is named above); its drift
    rules also steer the model in service, so each must reach the signal engine."""
    changed = load_settings(**nested(name, other(name, value)))
    assert trading_config(changed).signal.model_drift != trading_config(DEFAULTS).signal.model_drift


@pytest.mark.parametrize(("name", "value"), [("pinned", "m-0123456789ab"), ("filter", "breakout")])
def test_the_served_model_settings_reach_the_signal_engine_and_the_backtest(
    name: str, value: str
) -> None:
    """``model.pinned`` / ``model.filter`` are the model strategy's ``model`` / ``filter``
    parameters, in the services' config and in what a backtest of it is given."""
    serving = {"strategies": {"names": ["model"]}}
    changed = load_settings(**serving, model={name: value})
    (spec,) = trading_config(changed).signal.strategies
    (plain,) = trading_config(load_settings(**serving)).signal.strategies
    key = {"pinned": "model", "filter": "filter"}[name]
    assert spec.params[key] == value and key not in plain.params
    assert strategy_params(changed, "model")[key] == value
    assert strategy_params(changed, "model", {key: "other"})[key] == "other"  # --param wins


def test_every_setting_is_either_wired_into_the_services_or_proven_by_a_named_test() -> None:
    top = set(Settings.model_fields)
    wired = {n.split(".")[0] for n, _ in TRADING}
    assert top == wired | {n.split(".")[0] for n in PROVEN_ELSEWHERE}
    for test in set(PROVEN_ELSEWHERE.values()):
        path, _, function = test.partition("::")
        assert re.search(rf"def {function}\(", (ROOT / path).read_text()), f"missing: {test}"


def test_paper_demo_and_live_get_identical_trading_parameters() -> None:
    built = [trading_config(load_settings(mode=mode)) for mode in Mode]
    assert all(config == built[0] for config in built)


def test_services_are_wired_only_by_the_composition_root() -> None:
    """No mode builds its services' configuration by hand: ``SystemParts`` is made in one
    place, and no service config reads the settings object itself."""
    builders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"\bSystemParts\(", p.read_text())
    ]
    assert builders == ["bootstrap/__init__.py"]
    readers = [
        str(p.relative_to(SRC))
        for p in (SRC / "services").rglob("*.py")
        if re.search(r"from quantum_trader\.config import .*\bSettings\b", p.read_text())
    ]
    assert readers == []


DECISION_SECTIONS = {"policy", "sizing", "gate", "apply", "risk", "exits"}
DECISIONS = [(n, v) for n, v in TRADING if n.split(".")[0] in DECISION_SECTIONS]


@pytest.mark.parametrize(("name", "value"), DECISIONS, ids=[n for n, _ in DECISIONS])
def test_each_decision_setting_changes_what_the_backtest_trades_with(name: str, value: Any) -> None:
    changed = load_settings(**nested(name, other(name, value)))
    assert engine_config(changed) != engine_config(DEFAULTS), f"{name} does not reach backtests"


def test_the_backtest_decides_with_the_parameters_paper_and_live_get() -> None:
    """Not a copy with defaults of its own: the backtester's decision configs are the
    services', built from the same settings by the composition root."""
    chosen = load_settings(
        policy={"min_confidence": "0.4", "plan_ttl_ms": 45_000},
        sizing={"risk_pct": "0.004", "leverage": 3},
        gate={"max_open_positions": 3, "max_gross_exposure": "50000"},
        apply={"cooldown_ms": 120_000},
        risk={"daily_loss_limit_pct": "0.03"},
        exits={"kill": {"threshold": "0.7"}},
    )
    for settings in (DEFAULTS, chosen):
        services, engine = trading_config(settings), engine_config(settings)
        assert engine.policy == services.bridge.policy
        assert engine.sizing_config() == services.bridge.sizing
        assert engine.gate == services.limits and engine.apply == services.apply
        assert engine.risk == services.risk.risk
        assert engine.exit_config() == services.exits
