"""Build ``RUN/report.html`` and ``RUN/plots/*.png`` from a run's saved files.

Reads ``RUN/results.json`` (required) and ``RUN/patients.csv`` (optional: one
row per architecture, seed, fold and test patient); nothing is retrained.
Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import IntersurvError
from ..io.atomic import atomic_path, write_text_atomic
from .html import render_html
from .plots import PLOTS, render_plots
from .thumbnails import PATCH_SIZE, patch_thumbnails

PATIENT_COLUMNS = ("arch", "seed", "fold", "patient_id", "time", "event", "log_risk", "local_intershap")


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """Parse ``RUN/results.json``; IntersurvError if it is missing or not a JSON object."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise IntersurvError(f"{path}: not found (is {run_dir} a finished audit run directory?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntersurvError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("architectures"), dict):
        raise IntersurvError(f"{path}: expected a JSON object with an 'architectures' object")
    bad = [name for name, entry in results["architectures"].items() if not isinstance(entry, dict)]
    if bad:
        raise IntersurvError(f"{path}: architecture {bad[0]!r} is not a JSON object")
    return results


def load_patients(run_dir: str | Path) -> pd.DataFrame | None:
    """Parse ``RUN/patients.csv`` (None if absent); IntersurvError naming a missing column."""
    path = Path(run_dir) / "patients.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"arch": str, "patient_id": str, "group": str}, keep_default_na=False,
                     na_values={c: [""] for c in ("time", "event", "log_risk", "local_intershap")})
    missing = [c for c in PATIENT_COLUMNS if c not in df.columns]
    if missing:
        raise IntersurvError(f"{path}: missing column {missing[0]!r}")
    for col in ("time", "log_risk", "local_intershap"):
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise IntersurvError(f"{path}: column {col!r} is not numeric")
    return df


def build_report(run_dir: str | Path, slides: str | Path | None = None, patch_size: int = PATCH_SIZE) -> Path:
    """Write ``plots/<name>.png`` and ``report.html`` into ``run_dir``; return the report's path.

    ``slides``: a directory of slide files; the attention-MIL section then shows thumbnails of its
    patches (``patch_size`` level-0 pixels wide; :mod:`intersurv.report.thumbnails`)."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    thumbnails, problems = patch_thumbnails(results, slides, patch_size) if slides is not None else ({}, [])
    patients = load_patients(run_dir)
    images = render_plots(results, patients)
    plot_dir = run_dir / "plots"
    for stem in PLOTS:
        target = plot_dir / f"{stem}.png"
        if stem in images:
            with atomic_path(target) as tmp:
                tmp.write_bytes(images[stem])
        elif target.exists():  # a figure this run no longer supports must not look current
            target.unlink()
    report = run_dir / "report.html"
    write_text_atomic(report, render_html(results, patients, images, thumbnails, problems))
    return report
