"""Checks on an output directory before anything is written to it.

* :func:`refuse_non_empty`: a command that writes a new cohort directory
  (``simulate``, ``datasets export``) must not overwrite someone's files.
* :func:`refuse_inside_cohort`: a run directory inside the cohort directory it
  reads would be read back as part of the cohort (``patients.csv`` as a modality).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import IntersurvError


def refuse_non_empty(out: str | Path, *, force: bool = False) -> None:
    """Raise unless ``out`` is absent or an empty directory (or ``force``)."""
    path = Path(out)
    if force or not path.exists():
        return
    if not path.is_dir():
        raise IntersurvError(f"--out {path}: exists and is not a directory")
    entries = sorted(p.name for p in path.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise IntersurvError(f"--out {path}: directory is not empty ({shown}); choose a new directory or "
                             "pass --force to overwrite")


def refuse_inside_cohort(out: str | Path, cohort_source: str) -> None:
    """Raise if the run directory ``out`` is the cohort directory ``cohort_source`` or inside it
    (a built-in cohort name, which is not a directory, passes)."""
    cohort = Path(cohort_source).expanduser()
    if not cohort.is_dir():
        return
    run, cohort = Path(out).expanduser().resolve(), cohort.resolve()
    if run == cohort or cohort in run.parents:
        raise IntersurvError(f"--out {out}: the run directory must be outside the cohort directory {cohort} "
                             "(its files would be read as part of the cohort)")
