"""Section 9 of ``make bench`` (``--skip-cohorts`` skips it): ``intersurv study`` over several cohorts.

(a) A two-cohort study against the two audits run alone, measured in one run:
two simulated cohorts (glioma, 240 patients, wsi 32 + rna 64 features, seeds 1
and 2) written as cohort directories; ``intersurv audit`` on each, then
``intersurv study`` on both, every command in its own subprocess with the same
options (every default architecture, 1 seed x 5-fold CV, ``--jobs 2``), one
after the other. Reported: the wall times, the ratio study / (audit A + audit
B) (target <= 1.15) and whether every unit's result.json (timing left out) and
every architecture's results (results.json) are the same in the study as in
the audit alone.

(b) With ``--tcga DIR`` (or ``INTERSURV_TCGA_DATA``; ``make bench`` passes
neither, so this part is skipped there): the three TCGA tables of DIR
(``tcga_{gbmlgg,brca,coadread}_all_clean.csv.zip``) in one study with the
defaults (imported on the fly, every default architecture and seed), ``--jobs 2``:
its wall time (docs/validation.md has its answers).

Run alone: ``python benchmarks/study.py [--quick] [--tcga DIR]`` (prints the section).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

#: The issue's target: a study takes at most this times the sum of its audits run alone.
TARGET_RATIO = 1.15
TCGA_TABLES = ("tcga_gbmlgg_all_clean.csv.zip", "tcga_brca_all_clean.csv.zip", "tcga_coadread_all_clean.csv.zip")


def timed(argv: list[str]) -> float:
    """Wall seconds of ``intersurv -q ARGV`` in a subprocess; RuntimeError with its stderr if it fails."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "intersurv", "-q", *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`intersurv {' '.join(argv)}` failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return time.perf_counter() - started


def unit_results(run: Path) -> dict[str, dict]:
    """Every unit's result.json of a run directory, its timing left out."""
    out = {}
    for f in sorted(run.glob("units/*/result.json")):
        res = json.loads(f.read_text())
        res.pop("seconds")
        out[f.parent.name] = res
    return out


def same_results(alone: Path, study: Path) -> bool:
    """Whether two run directories hold the same unit results and the same per-architecture results."""
    def architectures(run: Path) -> dict:
        return json.loads((run / "results.json").read_text())["architectures"]

    return unit_results(alone) == unit_results(study) and architectures(alone) == architectures(study)


def ratio_section(quick: bool = False) -> str:
    """(a): two audits alone, then the study of both; the markdown of the comparison."""
    from intersurv import simulate
    from intersurv.io.cohort_dir import write_cohort_dir

    n, grid = (120, ["--seeds", "1", "--folds", "2", "--max-epochs", "3"]) if quick else \
        (240, ["--seeds", "1", "--folds", "5"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = [write_cohort_dir(simulate("glioma", n=n, seed=s, wsi_dim=32, rna_genes=64), root / f"c{s}")
                for s in (1, 2)]
        alone = [timed(["audit", "--cohort", str(d), "--out", str(root / f"alone{d.name}"), *grid, "--jobs", "2"])
                 for d in dirs]
        study = timed(["study", "--cohorts", *map(str, dirs), "--out", str(root / "study"), *grid, "--jobs", "2"])
        same = all(same_results(root / f"alone{d.name}", root / "study" / "cohorts" / d.name) for d in dirs)
        units = sum(len(unit_results(root / f"alone{d.name}")) for d in dirs)
    ratio = study / sum(alone)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{when}; two simulated cohorts (glioma, {n} patients each, wsi 32 + rna 64 features), every default "
            f"architecture, `{' '.join(grid)} --jobs 2`, each command a subprocess, run one after the other.\n\n"
            "| units | audit A s | audit B s | A + B s | study (A, B) s | study / (A + B) | results identical |\n"
            "|---|---|---|---|---|---|---|\n"
            f"| {units} | {alone[0]:.0f} | {alone[1]:.0f} | {sum(alone):.0f} | {study:.0f} | {ratio:.2f} | "
            f"{'yes' if same else 'NO'} |\n\n"
            f"Target: study <= {TARGET_RATIO} x the audits alone: {'met' if ratio <= TARGET_RATIO else 'NOT met'}.")


def tcga_section(data: Path) -> str:
    """(b): the three TCGA tables in one study; the markdown line with its wall time."""
    tables = [data / t for t in TCGA_TABLES]
    missing = [t for t in tables if not t.is_file()]
    if missing:
        return f"TCGA study skipped: {missing[0]} not found."
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["study", "--cohorts", *map(str, tables), "--jobs", "2", "--out", str(Path(tmp) / "study")]
        wall = timed(argv)
        units = len(list((Path(tmp) / "study").glob("cohorts/*/units/*/result.json")))
    return (f"Three TCGA tables (GBMLGG, BRCA, COADREAD) in one study with the defaults, `intersurv study "
            f"--cohorts <3 tables> --jobs 2`: {units} units, {wall:.0f} s wall.")


def cohorts_section(quick: bool = False, tcga: str | None = None) -> str:
    """The whole section: (a), and (b) when a TCGA directory is given."""
    text = ratio_section(quick)
    if tcga:
        text += "\n\n" + tcga_section(Path(tcga))
    return text


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="toy sizes (a smoke run, figures meaningless)")
    p.add_argument("--tcga", default=os.environ.get("INTERSURV_TCGA_DATA"),
                   help="directory of the three TCGA tables (part b; default $INTERSURV_TCGA_DATA)")
    args = p.parse_args()
    print(cohorts_section(args.quick, args.tcga))
