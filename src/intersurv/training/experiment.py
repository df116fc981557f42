"""Experiments: the grid architectures x seeds x folds, run unit by unit, resumable.

A *unit* is one (architecture, seed, fold). Its seed drives both its split
(:mod:`.splits`: the same seed gives the same partition for every architecture)
and its training (:func:`intersurv.fit` carves its validation set out of the
unit's training patients with that seed). A unit

1. fits on its training patients (fit selects the epoch on its validation part
   and standardises on its training part; the test patients are not passed to it),
2. predicts the test patients once and evaluates them with
   :func:`intersurv.metrics.evaluate`, whose training data (censoring
   distribution, Breslow baseline of the Brier scores) are the unit's whole
   training fold: the training and validation patients,
3. writes the checkpoint, ``split.json`` and ``predictions.csv`` (and, for an
   attention-MIL model, ``attention.parquet``: every test patch's weight),
4. runs the optional per-unit step (see :data:`UnitStep`), whose dict is merged
   into the result and which may write more files into the unit directory,
5. writes ``result.json`` atomically, last: the unit is done iff it exists.

:func:`run_experiment` first checks the whole grid against the cohort
(:func:`check_experiment`), so a configuration that cannot run writes nothing;
it skips done units and restarts unfinished ones from an
empty directory, so re-running an interrupted command resumes it; results do not
depend on ``jobs`` or on which units ran before.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import IntersurvError
from ..io.atomic import atomic_path, write_json_atomic, write_text_atomic
from ..io.cohort_dir import write_cohort_dir
from ..metrics import horizon_drops_logged_once
from .executors import available_cores, make_executor
from .config import ExperimentConfig, unit_name
from .fingerprint import cohort_fingerprint
from .rundir import IN_RUN_COHORT, RunDir, Unit, load_config_cohort
from .splits import Split, check_enough_events, holdout_split, kfold_splits

if TYPE_CHECKING:
    from .fitted import FittedModel

log = logging.getLogger("intersurv")


@dataclass(frozen=True, eq=False)
class UnitContext:
    """What a per-unit step sees: the unit, its data split and its fitted model.

    ``split`` holds positions into ``cohort`` (``split.train`` = the model's
    training and validation patients); ``model.reference`` is the raw modalities
    of the model's training patients; ``test_log_risk`` is aligned with
    ``split.test``.
    """

    config: ExperimentConfig
    cohort: Cohort
    arch: str
    seed: int
    fold: int
    path: Path
    split: Split
    model: "FittedModel"
    test_log_risk: np.ndarray
    metrics: dict[str, Any]

    @property
    def name(self) -> str:
        return unit_name(self.arch, self.seed, self.fold)

    @property
    def test(self) -> Cohort:
        return self.cohort.subset(self.split.test)


#: A per-unit step: a module-level function (so it pickles into worker processes)
#: taking a :class:`UnitContext` and returning a JSON-able dict merged into result.json.
#: It may write files into ``context.path``; its settings belong in ``config.extra``.
UnitStep = Callable[[UnitContext], dict[str, Any]]

#: Keys of result.json written by the unit itself (a step may not overwrite them).
CORE_KEYS = ("unit", "arch", "seed", "fold", "protocol", "n_train", "n_val", "n_test", "n_test_events",
             "n_params", "best_epoch", "epochs", "horizons", "metrics", "seconds")


def unit_split(cohort: Cohort, config: ExperimentConfig, seed: int, fold: int) -> Split:
    """The train/test split of unit (seed, fold) under ``config.protocol``."""
    group = cohort.group if config.stratify_group else None
    proto = config.protocol
    if proto.kind == "cv":
        return kfold_splits(cohort.event, proto.folds, seed, group)[fold]
    return holdout_split(cohort.event, proto.test_fraction, seed, group)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, restoring the previous count after.

    A unit's floating-point results depend on the thread count (the order of
    reductions), so every unit runs with ``config.threads`` whether it runs alone
    in this process or beside others in worker processes.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def unit_horizons(config: ExperimentConfig, train_fold: Cohort, test: Cohort) -> list[float]:
    """The metric horizons of a unit: ``config.horizons``, else :func:`intersurv.metrics.default_horizons`."""
    from ..metrics import default_horizons

    if config.horizons is not None:
        return list(config.horizons)
    return default_horizons(test.time_unit, train_fold.time, test.time, test.event)


@contextmanager
def _quiet() -> Iterator[None]:
    """Only warnings from the ``intersurv`` logger inside the block (a check repeats what the run logs)."""
    before = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(before)


def run_unit(cohort: Cohort, config: ExperimentConfig, run_path: Path, key: tuple[str, int, int],
             step: UnitStep | None = None) -> dict[str, Any]:
    """Run one unit from scratch into ``run_path/units/<name>`` with ``config.threads`` torch
    threads; return its result dict."""
    with torch_threads(config.threads):
        return _run_unit(cohort, config, run_path, key, step)


def _run_unit(cohort: Cohort, config: ExperimentConfig, run_path: Path, key: tuple[str, int, int],
              step: UnitStep | None) -> dict[str, Any]:
    from ..metrics import evaluate
    from .fit import fit
    from .mil_fit import ATTENTION_FILE, MILFittedModel, attention_table, model_inputs

    from ..models import model_cohort

    arch, seed, fold = key
    cohort = model_cohort(cohort, arch)  # ``clinical`` reads the covariates when they are no modality
    path = Path(run_path) / "units" / unit_name(arch, seed, fold)
    if path.exists():
        shutil.rmtree(path)  # an interrupted attempt: start clean
    path.mkdir(parents=True)
    started = time.perf_counter()

    split = unit_split(cohort, config, seed, fold)
    train_fold = cohort.subset(split.train)
    test = cohort.subset(split.test)
    model = fit(train_fold, arch, seed=seed, **config.train.to_dict())
    test_lr = np.asarray(model.predict_log_risk(model_inputs(model, test)), dtype=np.float64)
    train_lr = np.asarray(model.predict_log_risk(model_inputs(model, train_fold)), dtype=np.float64)
    horizons = unit_horizons(config, train_fold, test)
    metrics = evaluate(test_lr, test.time, test.event, train_log_risk=train_lr, train_time=train_fold.time,
                       train_event=train_fold.event, horizons=horizons)

    model.save(path)
    write_json_atomic(path / "split.json", {
        "train": list(model.train_ids), "val": list(model.val_ids), "test": test.ids.tolist()})
    write_text_atomic(path / "predictions.csv", pd.DataFrame({
        "patient_id": test.ids, "time": test.time, "event": test.event, "log_risk": test_lr,
    }).to_csv(index=False))
    if isinstance(model, MILFittedModel):
        with atomic_path(path / ATTENTION_FILE) as tmp:
            attention_table(model, test).to_parquet(tmp, index=False)

    result: dict[str, Any] = {
        "unit": unit_name(arch, seed, fold), "arch": arch, "seed": seed, "fold": fold,
        "protocol": config.protocol.kind,
        "n_train": len(model.train_ids), "n_val": len(model.val_ids), "n_test": len(split.test),
        "n_test_events": int(test.event.sum()), "n_params": int(model.n_params),
        "best_epoch": int(model.best_epoch), "epochs": len(model.history.get("train", [])),
        "horizons": horizons, "metrics": metrics,
    }
    if step is not None:
        ctx = UnitContext(config=config, cohort=cohort, arch=arch, seed=seed, fold=fold, path=path,
                          split=split, model=model, test_log_risk=test_lr, metrics=metrics)
        extra = step(ctx)
        clash = sorted(set(extra) & set(CORE_KEYS))
        if clash:
            raise ValueError(f"unit step {config.unit_step} returned reserved result key {clash[0]!r}")
        result.update(extra)
    result["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(path / "result.json", result)
    return result


def check_experiment(config: ExperimentConfig, cohort: Cohort, jobs: int = 1) -> None:
    """Raise :class:`IntersurvError` for anything that would stop a unit before it trains.

    Checked before a run directory is written, so that the corrected command
    can use the same ``--out``: ``jobs`` >= 1, every architecture against the
    cohort's modalities, and for every unit its test part (at least one patient
    and one event, a metric horizon inside its follow-up) and the validation
    split :func:`intersurv.fit` carves out of its training part
    (:func:`.fit.validation_split`).
    """
    from ..models import model_cohort, model_modalities
    from .fit import validation_split

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise IntersurvError(f"--jobs must be an integer >= 1, not {jobs!r}")
    for arch in config.architectures:
        model_modalities(arch, model_cohort(cohort, arch).modality_names)
    proto = config.protocol
    check_enough_events(cohort.event, proto)
    for seed in config.seeds:
        for fold in proto.fold_ids:
            split = unit_split(cohort, config, seed, fold)
            train_fold, test = cohort.subset(split.train), cohort.subset(split.test)
            where = f"cohort {cohort.name!r}: the test part of seed {seed} fold {fold} ({test.n_patients} patients)"
            if test.n_events == 0:
                raise IntersurvError(f"{where} has no events")
            validation_split(train_fold, config.train.val_fraction, seed)
            with _quiet():
                if not unit_horizons(config, train_fold, test):
                    raise IntersurvError(f"{where}: none of the default metric horizons fits its follow-up; "
                                         "give --horizons, or use more patients")


def _execute(shared: tuple[tuple[Cohort, ExperimentConfig, str, UnitStep | None], ...],
             task: tuple[int, tuple[str, int, int]]) -> dict[str, Any]:
    run, key = task
    cohort, config, run_path, step = shared[run]
    return run_unit(cohort, config, Path(run_path), key, step)


def step_name(step: UnitStep) -> str:
    """``module:qualname`` of a module-level function (what config.json records)."""
    qual = getattr(step, "__qualname__", "")
    module = getattr(step, "__module__", "")
    if not module or not qual or "<" in qual:
        raise ValueError(f"unit step {step!r} must be a module-level function (it is sent to worker processes)")
    return f"{module}:{qual}"


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class _Progress:
    """A tqdm bar on stderr (units done / total, running units, elapsed and remaining time; off when
    not a TTY) and one log line per finished unit with the same figures.

    The remaining time is the elapsed time per unit finished in this process times the units left
    (units resumed from disk are not counted as finished here); ``labels[i]`` prefixes the unit names
    of run ``i`` (a study's cohort names; "" for a single run).
    """

    def __init__(self, total: int, done: int, labels: list[str]) -> None:
        from tqdm.auto import tqdm

        self.total = total
        self.count = done
        self.resumed = done
        self.labels = labels
        self.started = time.perf_counter()
        self.running: list[str] = []
        self.bar = tqdm(total=total, initial=done, unit="unit", file=sys.stderr, dynamic_ncols=True,
                        disable=None if sys.stderr.isatty() else True, desc="train")

    def _name(self, task: tuple[int, tuple[str, int, int]]) -> str:
        run, key = task
        return f"{self.labels[run]}/{unit_name(*key)}" if self.labels[run] else unit_name(*key)

    def start(self, task: tuple[int, tuple[str, int, int]]) -> None:
        self.running.append(self._name(task))
        self.bar.set_postfix_str(", ".join(self.running), refresh=True)

    def timing(self) -> str:
        """'elapsed 1 min 05 s, about 3 min 10 s left' (the estimate once a unit finished here)."""
        elapsed = time.perf_counter() - self.started
        finished = self.count - self.resumed
        text = f"elapsed {_duration(elapsed)}"
        if finished:
            text += f", about {_duration(elapsed / finished * (self.total - self.count))} left"
        return text

    def done(self, task: tuple[int, tuple[str, int, int]], result: dict[str, Any]) -> None:
        name = self._name(task)
        self.running.remove(name)
        self.count += 1
        self.bar.set_postfix_str(", ".join(self.running), refresh=False)
        self.bar.update(1)
        c = result["metrics"].get("c_harrell")
        c_text = f"{c:.3f}" if isinstance(c, (int, float)) else "n/a"
        log.info("unit %s done (%d/%d): C-index %s, best epoch %d, %.1f s; %s",
                 name, self.count, self.total, c_text, result["best_epoch"], result["seconds"], self.timing())

    def logging(self) -> ContextManager[Any]:
        """While the bar is shown, route console log lines through it (tqdm.write)."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        return nullcontext() if self.bar.disable else logging_redirect_tqdm()

    def close(self) -> None:
        self.bar.close()


def _store_cohort(cohort: Cohort, config: ExperimentConfig, run_path: Path) -> Cohort:
    """Write an in-memory cohort to ``RUN/cohort`` and return the copy read back from disk,
    so that training and every later re-load of the run see exactly the same data. An
    existing run keeps its copy (:meth:`RunDir.create` then checks the two agree)."""
    final = run_path / IN_RUN_COHORT
    staging = run_path / f".{IN_RUN_COHORT}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    write_cohort_dir(cohort, staging)

    def stored(name: str) -> Cohort:
        return load_config_cohort(dataclasses.replace(config, cohort=name), run_path)

    if (run_path / "config.json").is_file() and final.is_dir():
        given = stored(staging.name)
        if cohort_fingerprint(given) != cohort_fingerprint(stored(IN_RUN_COHORT)):
            return given  # RunDir.create reports the difference (the staging copy is removed next time)
        shutil.rmtree(staging)
    else:
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    # read back from its final place: a bag modality's BagSet reads its files lazily, by path
    return stored(IN_RUN_COHORT)


@dataclass(eq=False)
class PlannedRun:
    """One run directory's experiment, checked against its cohort but not yet written.

    :func:`plan_experiment` makes it; :meth:`create` writes the run directory (stores an
    in-memory cohort, writes or checks config.json) and lists the units still to do;
    :func:`run_units` runs the units of any number of created runs in one pool.
    """

    config: ExperimentConfig
    cohort: Cohort
    path: Path
    step: UnitStep | None
    store: bool
    label: str = ""
    todo: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)

    def create(self) -> RunDir:
        """Write the run directory and set :attr:`todo` to the units without a result.json."""
        if self.store:
            self.cohort = _store_cohort(self.cohort, self.config, self.path)
            self.store = False
        run = RunDir.create(self.path, self.config, self.cohort)
        keys = self.config.unit_keys()
        self.todo = [k for k in keys if not (self.path / "units" / unit_name(*k) / "result.json").is_file()]
        if len(self.todo) < len(keys):
            log.info("%s: resuming, %d of %d units already done", self.path, len(keys) - len(self.todo), len(keys))
        return run

    @property
    def n_units(self) -> int:
        return len(self.config.unit_keys())


def plan_experiment(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    cohort: Cohort | None = None,
    jobs: int = 1,
    unit_step: UnitStep | None = None,
    executor: str = "local",
    address: str | None = None,
    label: str = "",
) -> PlannedRun:
    """Check ``config`` against its cohort and where it would run; write nothing.

    Arguments as :func:`run_experiment`; ``label`` names the run in progress lines (a study's
    cohort). Raises :class:`IntersurvError` for anything that would stop a unit
    (:func:`check_experiment`), an unknown executor or an unavailable device.
    """
    run_path = Path(run_dir)
    if unit_step is not None:
        config = dataclasses.replace(config, unit_step=step_name(unit_step))
    elif config.unit_step is not None:
        raise IntersurvError(f"{run_path}: this run uses the unit step {config.unit_step!r}; "
                             "resume it with the command that started it")
    store = config.cohort == ""
    if store:
        if cohort is None:
            raise ValueError("config.cohort is empty: pass the cohort to store in the run directory")
        config = dataclasses.replace(config, cohort=IN_RUN_COHORT)
    elif cohort is None:
        cohort = load_config_cohort(config, run_path)
    elif config.modalities is not None:
        cohort = cohort.select_modalities(list(config.modalities))
    selected = cohort.select_modalities(list(config.modalities)) if store and config.modalities else cohort
    check_experiment(config, selected, jobs)
    from .device import resolve_device

    make_executor(jobs, executor, address, config.threads)  # an unknown executor fails here
    resolve_device(config.train.device)  # an unavailable device fails before anything is written
    return PlannedRun(config=config, cohort=cohort, path=run_path, step=unit_step, store=store, label=label)


def run_units(runs: list[PlannedRun], *, jobs: int = 1, executor: str = "local",
              address: str | None = None) -> None:
    """Run the units still to do of every created run (:meth:`PlannedRun.create`) in one pool.

    ``jobs``, ``executor``, ``address`` as in :func:`run_experiment`; a Ray task declares the
    largest ``config.threads`` of the runs. Progress counts the units of all runs together.
    """
    threads = max((r.config.threads for r in runs), default=1)
    pool = make_executor(jobs, executor, address, threads)
    if executor == "local" and jobs * threads > available_cores():
        log.warning("--jobs %d x %d thread(s) per unit is more than the %d cores available",
                    jobs, threads, available_cores())
    tasks = [(i, key) for i, r in enumerate(runs) for key in r.todo]
    shared = tuple((r.cohort, r.config, str(r.path), r.step) for r in runs)
    total = sum(r.n_units for r in runs)
    progress = _Progress(total, total - len(tasks), [r.label for r in runs])
    try:
        with progress.logging(), horizon_drops_logged_once():
            pool.map(_execute, tasks, shared, on_start=progress.start, on_done=progress.done)
    finally:
        progress.close()
    if len(runs) > 1 and tasks:
        log.info("all %d units of %d runs done (%s)", total, len(runs), progress.timing())


def run_experiment(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    cohort: Cohort | None = None,
    jobs: int = 1,
    unit_step: UnitStep | None = None,
    executor: str = "local",
    address: str | None = None,
) -> list[Unit]:
    """Run (or resume) every unit of ``config`` in ``run_dir``; return all units, done.

    ``cohort``: the cohort, if already loaded; it must be what ``config.cohort``
    loads, except that ``config.cohort = ""`` with a cohort given stores the
    cohort as a cohort directory inside the run directory (for cohorts built in
    memory) and trains on that stored copy. ``jobs``: parallel worker processes
    (results do not depend on it). ``executor``/``address``: ``"ray"`` runs the units as Ray
    tasks of ``config.threads`` CPUs each, on the cluster at ``address`` or a local one
    (:func:`intersurv.training.executors.make_executor`).
    ``unit_step``: see :data:`UnitStep`; its name is recorded in the config.
    Several experiments in one pool: :func:`plan_experiment`, :meth:`PlannedRun.create`, :func:`run_units`.
    """
    planned = plan_experiment(config, run_dir, cohort=cohort, jobs=jobs, unit_step=unit_step,
                              executor=executor, address=address)
    run = planned.create()
    run_units([planned], jobs=jobs, executor=executor, address=address)
    return run.units()


def summarise(values: list[float], across: str) -> dict[str, Any]:
    """``{"mean", "sd", "n", "across", "values"}`` of one metric over units; sd is the sample
    standard deviation (ddof = 1; None for a single value), NaN values are left out."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    return {
        "mean": float(np.mean(vals)) if n else None,
        "sd": float(np.std(vals, ddof=1)) if n > 1 else None,
        "n": n,
        "across": across,
        "values": vals,
    }


def across_label(config: ExperimentConfig) -> str:
    """What the spread over all units of one architecture is across."""
    if config.protocol.kind == "holdout":
        return "seeds"
    return "folds" if len(config.seeds) == 1 else "seeds x folds"


def summary_table(units: list[Unit], metric: str = "c_harrell") -> dict[str, dict[str, Any]]:
    """Per architecture (config order): :func:`summarise` of ``metric`` over its done units."""
    if not units:
        return {}
    config = units[0].run.config
    table: dict[str, dict[str, Any]] = {}
    for arch in config.architectures:
        done = [u for u in units if u.arch == arch and u.done]
        table[arch] = summarise([u.result["metrics"].get(metric) for u in done], across_label(config))
        table[arch]["n_params"] = done[0].result["n_params"] if done else None
    return table

