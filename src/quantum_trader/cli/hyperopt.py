"""``quantum hyperopt``: search a strategy's parameters on time folds, judge on a holdout.

``quantum hyperopt --strategy NAME --data PATH`` creates (or, run again with the same
options, resumes) a study on Redis — the configured ``QUANTUM_REDIS_URL``, else the data
directory's embedded server — runs ``--jobs`` workers on this machine and prints the
report; ``quantum hyperopt worker --storage URL --study NAME`` joins a study from any
machine that holds the same bars. See :mod:`quantum_trader.research.hyperopt`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import optuna
import typer
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from quantum_trader.backtest.runner import (
    BacktestRequest,
    InputError,
    LoadedBars,
    load_bars,
    load_funding,
)
from quantum_trader.bootstrap import engine_config
from quantum_trader.cli.checks import writable_output
from quantum_trader.cli.context import fail, state, usable_data_dir
from quantum_trader.cli.context import settings as context_settings
from quantum_trader.cli.hyperopt_view import print_report
from quantum_trader.config import Settings, load_settings, mask_url
from quantum_trader.infra.embedded_redis import EmbeddedRedis, read_state
from quantum_trader.research.hyperopt.coordination import WORKER_TIMEOUT_S, Coordination
from quantum_trader.research.hyperopt.folds import split_market
from quantum_trader.research.hyperopt.objective import OBJECTIVES
from quantum_trader.research.hyperopt.report import counted, study_report
from quantum_trader.research.hyperopt.space import SpaceError, overridden, parse_space
from quantum_trader.research.hyperopt.spec import (
    TRADING_SECTIONS,
    StudySpec,
    fingerprint,
    open_study,
    storage_for,
)
from quantum_trader.research.hyperopt.trials import Market, TrialContext, balance_fee
from quantum_trader.research.hyperopt.worker import run_worker

err_console = Console(stderr=True)
P = ParamSpec("P")
WorkerTimeout = Annotated[
    float,
    typer.Option(min=0.1, help="Seconds without a heartbeat before a worker's trial is re-run."),
]
MIN_FOLD_BARS = 1_440  # a fold shorter than a day of 1m bars scores noise

hyperopt_app = typer.Typer(
    help="Search a strategy's parameters on time folds; judge the best on a holdout.",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@contextmanager
def study_redis(settings: Settings, storage: str | None) -> Iterator[str]:
    """The Redis URL studies live on: ``--storage``, the configured one, the running
    embedded server of this data directory, or one started for this command."""
    if storage:
        if not storage.startswith(("redis://", "rediss://", "unix://")):
            raise fail(f"--storage {storage}: give a redis:// URL (Optuna's journal on Redis)")
        yield storage
        return
    if settings.redis_url:
        yield settings.redis_url
        return
    data_dir = usable_data_dir(settings)
    running = read_state(data_dir / "redis")
    if running is not None:
        yield str(running["url"])
        return
    server = EmbeddedRedis(data_dir / "redis").start()
    try:
        yield server.url
    finally:
        server.stop()


def quiet_optuna() -> None:
    """Optuna's own log lines stay out of the report."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def trial_context(spec: StudySpec, data: Path, loaded: LoadedBars | None = None) -> TrialContext:
    """Everything a worker needs to run the study's trials on its own copy of the bars."""
    request = BacktestRequest(
        strategy=spec.strategy, data=data, symbols=tuple(spec.symbols), timeframe=spec.timeframe
    )
    try:
        loaded = loaded or load_bars(request)
        funding = load_funding(request, loaded.series)
    except InputError as exc:
        raise fail(str(exc)) from None
    if fingerprint(loaded.series) != spec.fingerprint:
        raise fail(
            f"--data {data}: these bars differ from the study's ({spec.data}, fingerprint "
            f"{spec.fingerprint}); give the same files"
        )
    settings = load_settings(state.config_file, **spec.settings)
    try:
        split = split_market(
            loaded.series,
            settings.strategies.history_bars,
            spec.folds,
            spec.holdout,
            MIN_FOLD_BARS,
        )
        dims = parse_space(spec.space, spec.strategy, settings.model_dump(mode="json"))
    except (ValueError, SpaceError) as exc:
        raise fail(str(exc)) from None
    account = balance_fee(spec)

    def settings_for(overrides: dict[str, object]) -> Settings:
        return load_settings(state.config_file, **overridden(spec.settings, overrides))

    return TrialContext(
        spec,
        Market(loaded.series, funding, split, loaded.marks),
        dims,
        settings_for,  # type: ignore[arg-type]
        lambda s: engine_config(s, seed=spec.seed, workers=1, **account),
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sigterm_interrupts(command: Callable[P, None]) -> Callable[P, None]:
    """While ``command`` runs, SIGTERM (a service manager stopping it) ends it as Ctrl-C
    does: the trial in hand is queued again and its slot returned."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            command(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


def default_study_name(spec: StudySpec) -> str:
    return f"{spec.strategy}-{hashlib.sha256(spec.identity().encode()).hexdigest()[:10]}"


def _spawn_workers(
    jobs: int, url: str, name: str, log_dir: Path, timeout_s: float
) -> list[subprocess.Popen[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "quantum_trader.cli"]
    if state.config_file is not None:
        command += ["--config", str(state.config_file)]
    command += ["hyperopt", "worker", "--study", name, "--worker-timeout", str(timeout_s)]
    env = {**os.environ, "QUANTUM_REDIS_URL": url}  # not on the command line: ps shows that
    procs = []
    for n in range(1, jobs):
        with (log_dir / f"{name}-worker-{n}.log").open("ab") as log:
            procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env))
    return procs


@hyperopt_app.callback()
@sigterm_interrupts
def hyperopt_command(
    ctx: typer.Context,
    strategy: Annotated[str | None, typer.Option(help="Strategy to optimise.")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Kline files (a dump, a directory of them, or Parquet).")
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            help="name=low:high[:int|log] (repeatable): a strategy parameter, or a dotted "
            "setting such as exits.kill.threshold. Default: the strategy's declared space."
        ),
    ] = None,
    trials: Annotated[int, typer.Option(min=1, help="Finished trials the study ends at.")] = 50,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes on this machine.")] = 1,
    objective: Annotated[
        str, typer.Option(help=f"Fold score to maximise: {', '.join(OBJECTIVES)}.")
    ] = "sharpe",
    folds: Annotated[int, typer.Option(min=1, help="Search folds, in time order.")] = 4,
    holdout: Annotated[
        float, typer.Option(help="Last fraction of the bars no trial reads, to judge the best.")
    ] = 0.25,
    min_trades: Annotated[
        int, typer.Option(min=1, help="Positions a fold needs to be scored.")
    ] = 5,
    storage: Annotated[
        str | None,
        typer.Option(help="redis:// URL of the study (default: QUANTUM_REDIS_URL or embedded)."),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: from the options; same = resume).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampler seed (reproducible with --jobs 1).")] = 0,
    symbols: Annotated[
        str | None, typer.Option(help="Comma list (default: all in --data).")
    ] = None,
    timeframe: Annotated[str | None, typer.Option(help="Resample the bars to this.")] = None,
    balance: Annotated[str | None, typer.Option(help="Starting USDT of each backtest.")] = None,
    fee: Annotated[str | None, typer.Option(help="Taker fee rate of each backtest.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
) -> None:
    """Search a strategy's parameters on time folds; judge the best on a holdout."""
    if ctx.invoked_subcommand is not None:
        return
    if strategy is None or data is None:
        raise fail("--strategy and --data are required (see `quantum hyperopt -h`)")
    if objective not in OBJECTIVES:
        raise fail(f"--objective {objective}: one of {', '.join(OBJECTIVES)}")
    try:
        writable_output(json_path, "--json")
    except typer.BadParameter as exc:
        raise fail(exc.format_message()) from None
    settings = context_settings()
    quiet_optuna()
    request = BacktestRequest(
        strategy=strategy,
        data=data,
        symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else (),
        timeframe=timeframe,
    )
    dumped = settings.model_dump(mode="json")
    try:
        loaded = load_bars(request)
        dims = parse_space(space or [], strategy, dumped)
    except (InputError, SpaceError) as exc:
        raise fail(str(exc)) from None
    spec = StudySpec(
        strategy=strategy,
        data=str(data.resolve()),
        fingerprint=fingerprint(loaded.series),
        symbols=sorted(s.symbol for s in loaded.series),
        timeframe=timeframe,
        objective=objective,
        folds=folds,
        holdout=holdout,
        trials=trials,
        seed=seed,
        min_trades=min_trades,
        space=[d.spec() for d in dims],
        settings={k: dumped[k] for k in TRADING_SECTIONS},
        balance=balance,
        fee=fee,
    )
    name = study or default_study_name(spec)
    trial_ctx = trial_context(spec, data, loaded)
    with study_redis(settings, storage) as url:
        try:
            found, spec = open_study(storage_for(url, _prefix(settings)), name, spec, seed)
        except ValueError as exc:
            raise fail(str(exc)) from None
        coord = Coordination(url, f"{_prefix(settings)}{name}:", worker_timeout)
        log_dir = settings.data_dir / "hyperopt"
        workers = _spawn_workers(jobs, url, name, log_dir, worker_timeout)
        try:
            _work_with_progress(found, trial_ctx, coord)
            for proc in workers:
                proc.wait()
            _check_workers(workers, log_dir)
        except KeyboardInterrupt:
            _stop(workers)
            done = len(counted(found.get_trials(deepcopy=False)))
            message = f"interrupted after {done} trials; run the same command to resume"
            raise fail(message, 130) from None
        finally:
            coord.close()
        report = study_report(found, trial_ctx) | {"storage": mask_url(url)}
    _emit(report, json_path)


@hyperopt_app.command("worker")
@sigterm_interrupts
def worker_command(
    study: Annotated[str, typer.Option(help="Study name (quantum hyperopt prints it).")],
    storage: Annotated[
        str | None,
        typer.Option(help="redis:// URL of the study (default: QUANTUM_REDIS_URL or embedded)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Where this machine holds the study's bars.")
    ] = None,
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
) -> None:
    """Join a study: run its trials until it has all it needs."""
    settings = context_settings()
    quiet_optuna()
    with study_redis(settings, storage) as url:
        try:
            found, spec = open_study(storage_for(url, _prefix(settings)), study, None, None)
        except ValueError as exc:
            raise fail(str(exc)) from None
        trial_ctx = trial_context(spec, data or Path(spec.data))
        coord = Coordination(url, f"{_prefix(settings)}{study}:", worker_timeout)
        try:
            stats = run_worker(found, trial_ctx, coord)
        except KeyboardInterrupt:
            raise fail("interrupted; the trial in hand is queued again", 130) from None
        finally:
            coord.close()
    err_console.print(f"worker done: {stats.evaluated} trials, {stats.reaped} reaped")


def _prefix(settings: Settings) -> str:
    return f"{settings.key_prefix}hyperopt:"


def _work_with_progress(study: optuna.Study, ctx: TrialContext, coord: Coordination) -> None:
    columns = (
        TextColumn("[bold]trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("", total=ctx.spec.trials)

        def refresh() -> None:
            trials = counted(study.get_trials(deepcopy=False))
            complete = [t for t in trials if t.state is TrialState.COMPLETE]
            best = max((float(t.value or 0) for t in complete), default=None)
            label = f"best {best:.4g}" if best is not None else "no complete trial yet"
            progress.update(task, completed=len(trials), description=label)

        refresh()
        run_worker(study, ctx, coord, lambda _: refresh())
        refresh()


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # each queues its trial again
    for proc in workers:
        proc.wait()


def _check_workers(workers: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    for n, proc in enumerate(workers, start=1):
        if proc.returncode:
            err_console.print(
                f"[yellow]warning:[/] worker {n} exited with code {proc.returncode}; its log: "
                f"{log_dir}"
            )


def _emit(report: dict[str, Any], json_path: Path | None) -> None:
    print_report(report, Console(width=None if sys.stdout.isatty() else 120))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str))
        err_console.print(f"report: {json_path}")
