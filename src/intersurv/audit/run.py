"""``run_audit``: train, evaluate, explain, analyse and report, resumably."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..cohort import Cohort
from ..io.atomic import write_json_atomic, write_text_atomic
from ..training.config import ExperimentConfig
from ..training.rundir import RunDir

log = logging.getLogger("intersurv")


def run_audit(config: ExperimentConfig, out: str | Path, *, cohort: Cohort | None = None,
              jobs: int = 1, executor: str = "local", address: str | None = None) -> dict[str, Any]:
    """Run (or resume) the audit of ``config`` into the run directory ``out``.

    Writes ``RUN/results.json`` and ``RUN/patients.csv`` (atomically), the
    report (``RUN/report.html``, ``RUN/plots/*.png``) and returns the results.
    Units already finished in ``out`` are not recomputed. ``jobs``, ``executor`` and ``address``
    choose where units run (:func:`intersurv.training.experiment.run_experiment`).
    """
    from ..report import build_report
    from ..training.experiment import run_experiment
    from .results import build_results
    from .step import audit_step

    out = Path(out)
    run_experiment(config, out, cohort=cohort, jobs=jobs, unit_step=audit_step, executor=executor,
                   address=address)
    run = RunDir(out)
    log.info("aggregating units, prognostic analysis and report ...")
    results, patients = build_results(run, run.load_cohort())
    write_text_atomic(out / "patients.csv", patients.to_csv(index=False))
    write_json_atomic(out / "results.json", results)
    build_report(out)
    return results
