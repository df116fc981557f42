"""``run_study``: audit every cohort with one configuration, in one pool of units, then combine.

Layout of the study directory ``DIR``::

    DIR/cohorts/<name>/      a normal audit run directory per cohort (report.html, results.json, units/);
                             <name>: the TOML's name, else a directory's own name, else the cohort's name
    DIR/study.json           the combined answer (intersurv.study.summary; docs/results.md)
    DIR/study.html           its report, DIR/plots/forest.png its forest plot

Every cohort is loaded and its audit checked before anything is written; the
units of all cohorts then run as one pool (``jobs`` processes, or Ray tasks),
so re-running the same command resumes the whole study: units with a
``result.json`` are not retrained. Results equal those of each cohort's audit
run alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import IntersurvError
from ..io.atomic import write_json_atomic
from .cohorts import StudyCohort, dir_name

log = logging.getLogger("intersurv")


def run_study(cohorts: Sequence[StudyCohort], data: dict[str, Any], out: str | Path, *, jobs: int = 1,
              executor: str = "local", address: str | None = None, source: str = "options") -> dict[str, Any]:
    """Run (or resume) the study of ``cohorts`` with the audit config dict ``data`` (TOML-shaped, as
    :func:`intersurv.audit.audit_config` takes it, without ``cohort``) into ``out``; return study.json's dict."""
    from ..audit.config import cohort_audit_config
    from ..audit.run import AuditJob, run_audits
    from ..io.outdir import refuse_inside_cohort

    if not cohorts:
        raise IntersurvError("a study needs at least one cohort (--cohorts or 'cohorts' in --config)")
    out = Path(out)
    audits: list[AuditJob] = []
    seen: dict[str, str] = {}
    for spec in cohorts:
        cohort, config_cohort = spec.load()
        name = spec.name or (Path(config_cohort).name if config_cohort and Path(config_cohort).is_dir() else cohort.name)
        folder = dir_name(name)
        if folder in seen:
            raise IntersurvError(f"cohorts {seen[folder]!r} and {spec.source!r} both have the name {name!r}; "
                                 "give them distinct names (name = ... in the study TOML)")
        seen[folder] = spec.source
        run_dir = out / "cohorts" / folder
        if config_cohort:
            refuse_inside_cohort(run_dir, config_cohort)
        config = cohort_audit_config({**data, "cohort": config_cohort, "allow_missing": spec.allow_missing,
                                      "drop_incomplete": spec.drop_incomplete},
                                     cohort, source=f"{source} (cohort {name})")
        audits.append(AuditJob(config, run_dir, cohort, label=name))
    log.info("study of %d cohorts: %s", len(audits), ", ".join(a.label for a in audits))
    results = run_audits(audits, jobs=jobs, executor=executor, address=address)
    return write_study(out, {a.label: (str(a.out.relative_to(out)), r) for a, r in zip(audits, results)})


def write_study(out: Path, cohorts: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Write ``study.json`` (:func:`intersurv.study.summary.study_summary` of ``{name: (run_dir, results)}``)
    and the study report into ``out``; return the study dict."""
    from ..report.study import build_study_report
    from .summary import study_summary

    study = study_summary(cohorts)
    write_json_atomic(out / "study.json", study)
    build_study_report(out)
    return study


def rebuild_study(out: str | Path) -> dict[str, Any]:
    """Recompute ``study.json`` and the study report from each cohort's ``results.json`` (the cohorts
    and their run directories as the existing ``study.json`` lists them); nothing is retrained."""
    from ..report import load_results

    out = Path(out)
    path = out / "study.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["cohorts"]
        runs = {str(r["name"]): str(r["run_dir"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntersurvError(f"{path}: not a study.json of `intersurv study` ({exc})") from None
    return write_study(out, {name: (run, load_results(out / run)) for name, run in runs.items()})
