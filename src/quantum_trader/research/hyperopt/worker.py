"""A worker's loop: take a slot, ask Optuna for a trial, evaluate it, tell the result.

Many workers — processes on this machine (``--jobs``) or on others (``quantum hyperopt
worker``) — run this loop on one study. Before each trial a worker reaps trials
abandoned by dead workers (see :mod:`coordination`); when no slot is left it waits
while other workers still run trials (one of them may die and hand a trial back), then
ends. A trial interrupted here (Ctrl-C) is failed, queued again and its slot returned,
so the next run of the study evaluates it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from quantum_trader.clock import Clock, SystemClock
from quantum_trader.research.hyperopt.coordination import Coordination
from quantum_trader.research.hyperopt.objective import Refused
from quantum_trader.research.hyperopt.trials import TrialContext, evaluate

WAIT_S = 1.0  # between looks at other workers' running trials, when no slot is left
WORKER_ATTR, REASON_ATTR, RETRY_ATTR = "worker", "reason", "retry_of"

OnTrial = Callable[[FrozenTrial], None]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerStats:
    evaluated: int = 0
    reaped: int = 0


def reap(study: optuna.Study, coord: Coordination, me: str, clock: Clock) -> int:
    """Fail and re-queue the running trials whose worker stopped beating; how many."""
    reaped = 0
    now = clock.now_ms() / 1000
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(WORKER_ATTR)
        if owner == me:
            continue
        if owner is None:  # asked, not yet labelled: give it the liveness grace
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            if now - started < coord.timeout_ms / 1000:
                continue
        elif coord.alive(str(owner)):
            continue
        if not coord.first_to_reap(trial.number):
            continue
        storage, trial_id = study._storage, trial._trial_id
        storage.set_trial_user_attr(trial_id, REASON_ATTR, f"worker {owner} stopped beating")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        requeue(study, trial)
        coord.release_slot()
        reaped += 1
    return reaped


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})


def others_running(study: optuna.Study) -> bool:
    live = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    return bool(live)


def run_worker(
    study: optuna.Study,
    ctx: TrialContext,
    coord: Coordination,
    on_trial: OnTrial | None = None,
    me: str | None = None,
    clock: Clock | None = None,
) -> WorkerStats:
    me, clock = me or worker_id(), clock or SystemClock()
    stats = WorkerStats()
    idle = threading.Event()  # never set: a wait that a signal handler can interrupt
    with coord.heartbeat(me):
        while True:
            stats.reaped += reap(study, coord, me, clock)
            if not coord.claim_slot(ctx.spec.trials):
                if others_running(study):
                    idle.wait(WAIT_S)
                    continue
                return stats
            trial = study.ask()
            trial.set_user_attr(WORKER_ATTR, me)
            frozen = _run_one(study, trial, ctx, coord)
            stats.evaluated += 1
            if on_trial is not None:
                on_trial(frozen)


def _run_one(
    study: optuna.Study, trial: optuna.Trial, ctx: TrialContext, coord: Coordination
) -> FrozenTrial:
    try:
        value, _ = evaluate(trial, ctx)
    except Refused as exc:
        # Told as pruned, not failed: the sampler ignores failed trials and would keep
        # drawing from a region that does not trade; a pruned one it learns to avoid.
        trial.set_user_attr(REASON_ATTR, f"refused: {exc}")
        return study.tell(trial, state=TrialState.PRUNED)
    except optuna.TrialPruned as exc:
        trial.set_user_attr(REASON_ATTR, f"pruned: {exc}")
        return study.tell(trial, state=TrialState.PRUNED)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) or broken: run it again later
        trial.set_user_attr(REASON_ATTR, "interrupted; queued again")
        frozen = study.tell(trial, state=TrialState.FAIL)
        requeue(study, frozen)
        coord.release_slot()
        raise
    return study.tell(trial, value)
