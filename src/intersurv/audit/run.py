"""``run_audit`` / ``run_audits``: train, evaluate, explain, analyse and report, resumably."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cohort import Cohort
from ..io.atomic import write_json_atomic, write_text_atomic
from ..training.config import ExperimentConfig
from ..training.rundir import RunDir

log = logging.getLogger("intersurv")


@dataclass(frozen=True)
class AuditJob:
    """One audit of a study: its configuration, run directory and (optional, in-memory) cohort;
    ``label`` names it in progress lines."""

    config: ExperimentConfig
    out: Path
    cohort: Cohort | None = None
    label: str = ""


def finish_audit(out: str | Path) -> dict[str, Any]:
    """Aggregate a run directory whose units are all done: write ``results.json``, ``patients.csv``
    and the report; return the results."""
    from ..report import build_report
    from .results import build_results

    out = Path(out)
    run = RunDir(out)
    log.info("%s: aggregating units, prognostic analysis and report ...", out)
    results, patients = build_results(run, run.load_cohort())
    write_text_atomic(out / "patients.csv", patients.to_csv(index=False))
    write_json_atomic(out / "results.json", results)
    build_report(out)
    return results


def run_audits(audits: Sequence[AuditJob], *, jobs: int = 1, executor: str = "local",
               address: str | None = None) -> list[dict[str, Any]]:
    """Run (or resume) several audits as ONE pool of units; return their results in order.

    Every audit is checked before any run directory is written; then all units
    still to do, of every audit, run in one pool (``jobs``, ``executor``, ``address`` as in
    :func:`intersurv.training.experiment.run_experiment`), so a slow audit's tail overlaps the
    others; then each run directory is aggregated like a single audit (:func:`finish_audit`), up to
    ``jobs`` of them at once in local worker processes (the run directories are on this machine,
    whatever the executor). Results equal those of each audit run alone.
    """
    from ..training.executors import make_executor
    from ..training.experiment import plan_experiment, run_units
    from .step import audit_step

    planned = [plan_experiment(j.config, j.out, cohort=j.cohort, jobs=jobs, unit_step=audit_step,
                               executor=executor, address=address, label=j.label) for j in audits]
    for p in planned:
        p.create()
    run_units(planned, jobs=jobs, executor=executor, address=address)
    if len(audits) == 1:
        return [finish_audit(audits[0].out)]
    return make_executor(min(jobs, len(audits))).map(_finish_in_worker, [str(j.out) for j in audits],
                                                     log.getEffectiveLevel())


def _finish_in_worker(level: int, out: str) -> dict[str, Any]:
    """:func:`finish_audit` as an executor task; a fresh worker process prints its log lines at the
    driver's ``level``, as the command line does."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("intersurv: %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False
    return finish_audit(out)


def run_audit(config: ExperimentConfig, out: str | Path, *, cohort: Cohort | None = None,
              jobs: int = 1, executor: str = "local", address: str | None = None) -> dict[str, Any]:
    """Run (or resume) the audit of ``config`` into the run directory ``out``.

    Writes ``RUN/results.json`` and ``RUN/patients.csv`` (atomically), the
    report (``RUN/report.html``, ``RUN/plots/*.png``) and returns the results.
    Units already finished in ``out`` are not recomputed. ``jobs``, ``executor`` and ``address``
    choose where units run (:func:`intersurv.training.experiment.run_experiment`).
    """
    return run_audits([AuditJob(config, Path(out), cohort)], jobs=jobs, executor=executor, address=address)[0]
