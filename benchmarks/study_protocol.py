"""Section 7 of ``make bench`` (``--skip-study`` skips it): the glioma study's protocol at its size.

575 patients simulated at the study's widths (wsi 2,048, rna 12,778 features;
``intersurv.simulate("glioma", wsi_dim=2048, rna_genes=12778)``), written as a
cohort directory, and audited by the CLI as a user would run it: every
architecture (unimodal baselines and the six fusion architectures), 5 seeds x
5-fold cross-validation, the audit's default interaction answers, inputs
reduced with ``reduce = "auto"``, 2 worker processes of 1 thread (2 cores).
Reported: wall time, and peak memory as the largest sum of the resident sizes
(VmRSS) of the audit process and its workers, sampled every 0.2 s.

Run alone: ``python benchmarks/study_protocol.py [--quick]`` (prints the section).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

#: The issue's targets on 2 cores.
TARGET_S, TARGET_GIB = 15 * 60, 4.0


def tree_rss_mib(pid: int) -> float:
    """Resident memory (MiB) of process ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        p = int(fields["Pid"])
        children.setdefault(int(fields["PPid"]), []).append(p)
        rss[p] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0.0)
        todo += children.get(p, [])
    return total


def study_section(quick: bool = False) -> str:
    """Simulate, audit in a subprocess, and return the section's markdown."""
    from intersurv import simulate
    from intersurv.io.cohort_dir import write_cohort_dir

    if quick:
        cohort = simulate("glioma", n=120, seed=0, wsi_dim=64, rna_genes=128)
        grid = ["--seeds", "1", "--folds", "2", "--max-epochs", "3"]
    else:
        cohort = simulate("glioma", n=575, seed=0, wsi_dim=2048, rna_genes=12778)
        grid = ["--seeds", "5", "--folds", "5"]
    with tempfile.TemporaryDirectory() as tmp:
        cohort_dir = write_cohort_dir(cohort, Path(tmp) / "cohort")
        argv = ["audit", "--cohort", str(cohort_dir), "--out", str(Path(tmp) / "run"), *grid,
                "--param", 'reduce="auto"', "--jobs", "2"]
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "intersurv", "-q", *argv],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mib(proc.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - started
        err = proc.stderr.read() if proc.stderr else ""
        units = len(list((Path(tmp) / "run").glob("units/*/result.json")))
    if proc.returncode != 0:
        return f"`intersurv {' '.join(argv)}` failed (exit {proc.returncode}): {err.strip()[-500:]}"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    widths = " + ".join(f"{m} {w}" for m, w in cohort.widths().items())
    verdict = "within" if wall <= TARGET_S and peak / 1024 <= TARGET_GIB else "NOT within"
    return (f"{when}; {cohort.n_patients} patients, {widths} features; "
            f"`intersurv audit --cohort COHORT --out RUN {' '.join(grid)} --param reduce=\"auto\" --jobs 2` "
            "(every architecture, default interaction answers).\n\n"
            "| units | wall s | peak RSS (process tree) MiB |\n|---|---|---|\n"
            f"| {units} | {wall:.0f} | {peak:.0f} |\n\n"
            f"Targets: <= {TARGET_S // 60} min and <= {TARGET_GIB:g} GiB on 2 cores: {verdict}.")


if __name__ == "__main__":
    print(study_section("--quick" in sys.argv))
