"""Workers in separate processes share one study on the embedded Redis; one is killed
mid-trial (SIGKILL: no chance to clean up) and the study still completes, with every
trial counted once: the dead worker's trial is failed, re-run once by a survivor, and
its slot handed back so the study ends at exactly --trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from quantum_trader import cli
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.research.hyperopt.report import counted
from quantum_trader.research.hyperopt.spec import storage_for
from quantum_trader.research.hyperopt.worker import REASON_ATTR, RETRY_ATTR, WORKER_ATTR

TRIALS = 20
DEADLINE_S = 240.0  # wall-clock bound on the whole run (processes, real time)


def _victim(study: optuna.Study, parent: int) -> tuple[int, int] | None:
    """(trial number, pid) of a trial half done (its first fold scored) in a worker the
    parent spawned."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not trial.intermediate_values:
            continue
        owner = str(trial.user_attrs.get(WORKER_ATTR, ""))
        pid = int(owner.rsplit(":", 1)[1]) if ":" in owner else None
        if pid is not None and pid != parent:
            return trial.number, pid
    return None


@pytest.mark.long
def test_a_worker_killed_mid_trial_leaves_a_study_that_completes_counting_each_trial_once(
    tmp_path: Path, own_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()
    bars = tmp_path / "bars"
    synth = ["data", "synth", "--symbols", "BTCUSDT,ETHUSDT", "--days", "10", "--seed", "4"]
    made = CliRunner().invoke(cli.app, [*synth, "--out", str(bars)])
    assert made.exit_code == 0, made.output
    command = [sys.executable, "-m", "quantum_trader.cli", "hyperopt", "--strategy", "trend_ema",
               "--data", str(bars), "--trials", str(TRIALS), "--jobs", "2", "--folds", "3",
               "--min-trades", "1", "--storage", own_redis.url, "--study", "shared",
               "--worker-timeout", "1"]  # fmt: skip
    env = {**os.environ, "QUANTUM_DATA_DIR": str(tmp_path / "var")}
    parent = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    storage = storage_for(own_redis.url, "quantum:hyperopt:")
    started = time.monotonic()
    killed: tuple[int, int] | None = None
    try:
        while killed is None and parent.poll() is None:
            assert time.monotonic() - started < DEADLINE_S, "no trial ran in the second worker"
            try:
                study = optuna.load_study(study_name="shared", storage=storage)
            except KeyError:
                continue  # not created yet
            killed = _victim(study, parent.pid)
        assert killed is not None, "the run ended before the second worker took a trial"
        number, pid = killed
        os.kill(pid, signal.SIGKILL)
        out, err = parent.communicate(timeout=DEADLINE_S)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 0, err.decode()[-2000:]
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    dead = trials[number]
    assert dead.state is TrialState.FAIL
    assert "stopped beating" in str(dead.user_attrs[REASON_ATTR])
    retries = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == number]
    assert len(retries) == 1 and retries[0].state is not TrialState.RUNNING
    assert retries[0].params == dead.params
    assert len(counted(trials)) == TRIALS  # exactly the budget: the killed slot came back
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert f"{TRIALS} trials" in out.decode()
