"""Validation of the group-pair additivity test (``--groups-test A,B``; :func:`intersurv.audit.groups.group_pair_test`).

    PYTHONPATH=src python validation/group_test.py --null 100 --additive 100 --alt 50 --jobs 2 --out DIR

Simulated cohorts (n = 575, ``wsi_dim = 256``, ``rna_genes = 256``): ``--null`` of glioma-sim at interaction 0
(additive across the modalities, so across any group of wsi columns and any group of rna columns, with the
grade factor shared by the modalities), ``--additive`` of the ``additive`` scenario (own factors only, no
shared factor), and ``--alt`` of glioma-sim at interaction 0.3. The groups are A = the first 64 wsi columns and B = the first 64
rna columns; the test is the audit's (the cohort-level additivity test with the two groups' columns as its
two modalities, 99 parametric-bootstrap null draws as in validation/interaction_test.py, no CI, no planted
power). Per-cohort rows go to ``DIR/group_test.jsonl``, the table (Clopper-Pearson 95 % intervals) to
``DIR/group_test.md`` with the command, the date and the runtime.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process: the processes are the parallelism

import pandas as pd
from interaction_test import rate  # validation/interaction_test.py (this directory is on sys.path)

GROUPS = {"A": [f"wsi:wsi_{j:04d}" for j in range(64)], "B": [f"rna:gene_{j:05d}" for j in range(64)]}


def job(args: tuple[str, float | None, int]) -> dict:
    from intersurv.datasets.simulate import simulate
    from intersurv.interactions.additivity_test import cohort_interaction
    from intersurv.interactions.groups import resolve_players
    from intersurv.interactions.settings import ExplainSettings
    from intersurv.audit.groups import group_cohort

    scenario, interaction, rep = args
    kw = {} if interaction is None else {"interaction": interaction}
    cohort = simulate(scenario, n=575, seed=200_000 + rep, wsi_dim=256, rna_genes=256, **kw)
    settings = ExplainSettings(groups=GROUPS, group_test=["A", "B"])
    players = resolve_players(settings.groups, cohort.feature_names, cohort.widths())
    start = time.perf_counter()
    r = cohort_interaction(group_cohort(cohort, settings, players), null_replicates=99, ci_replicates=0,
                           planted_replicates=0, seed=rep)
    return {"scenario": scenario, "interaction": interaction or 0.0, "rep": rep, "p_value": r["p_value"], "p_chi2": r["p_chi2"],
            "statistic": r["statistic"], "seconds": time.perf_counter() - start}


def table(df: pd.DataFrame) -> str:
    lines = ["| cohorts | rejections, bootstrap p < 0.05 | chi-square p < 0.05 | s / cohort |", "|---|---|---|---|"]
    null = df[df["interaction"] == 0]
    for (scenario, inter), g in df.groupby(["scenario", "interaction"], sort=False):
        lines.append(f"| {scenario}-sim, interaction {inter:g} | {rate(g['p_value'] < 0.05)} | "
                     f"{rate(g['p_chi2'] < 0.05)} | {g['seconds'].mean():.1f} |")
    lines.append(f"| all null cohorts | {rate(null['p_value'] < 0.05)} | {rate(null['p_chi2'] < 0.05)} | "
                 f"{null['seconds'].mean():.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--null", type=int, default=100)
    ap.add_argument("--additive", type=int, default=100)
    ap.add_argument("--alt", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "PYTHONPATH=src python validation/group_test.py " + " ".join(argv or sys.argv[1:])
    start = time.perf_counter()
    jobs = ([("glioma", 0.0, r) for r in range(args.null)] + [("additive", None, r) for r in range(args.additive)]
            + [("glioma", 0.3, r) for r in range(args.alt)])
    log = args.out / "group_test.jsonl"
    with ProcessPoolExecutor(args.jobs) as pool, log.open("w") as sink:
        for row in pool.map(job, jobs):
            sink.write(json.dumps(row) + "\n")
            sink.flush()
    df = pd.read_json(log, lines=True, precise_float=True)
    text = (f"```\n{command}\n```\n\n{dt.date.today().isoformat()}, "
            f"{(time.perf_counter() - start) / 60:.1f} min with {args.jobs} process(es).\n\n{table(df)}\n")
    (args.out / "group_test.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
