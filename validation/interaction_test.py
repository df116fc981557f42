"""Validation study of the interaction tests (issue 13): type-I error, power, estimate bias and coverage,
minimum detectable interaction vs simulated power, on simulated cohorts with a known answer.

    PYTHONPATH=src python validation/interaction_test.py cohort --null 200 --alt 100 --planted 20 --out DIR
    PYTHONPATH=src python validation/interaction_test.py arch --null 30 --alt 30 --out DIR

``cohort``: the cohort-level test and estimate (:mod:`intersurv.interactions.additivity_test`) on
``--null`` cohorts of glioma-sim at interaction 0 and of the ``additive`` scenario, and ``--alt`` cohorts
of glioma-sim at interaction 0.15 and 0.3 (n = 575 each); the minimum detectable interaction
(:mod:`intersurv.interactions.planted`) on the first ``--planted`` cohorts at interaction 0.
``arch``: the per-architecture held-out test (:mod:`intersurv.audit.interaction_test`) of the six
fusion architectures, one 80/20 split per cohort, ``reduce=auto``.
Per-replicate rows go to ``DIR/<study>.csv``, the tables (Clopper-Pearson 95 % intervals) to
``DIR/<study>.md``, with the command, the date and the runtime.
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

import numpy as np
import pandas as pd
from comparisons import clopper_pearson  # validation/comparisons.py (this directory is on sys.path)

FUSION = ("early", "late", "cross_attention", "bilinear", "gated", "kronecker")


def rate(x: pd.Series) -> str:
    k, n = int(x.sum()), int(x.count())
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"


def simulate_cohort(scenario: str, interaction: float | None, rep: int):
    from intersurv.datasets.simulate import simulate

    kw = {} if interaction is None else {"interaction": interaction}
    return simulate(scenario, n=575, seed=100_000 + rep, **kw)


def cohort_job(args: tuple[str, float | None, int, bool]) -> dict:
    from intersurv.interactions.additivity_test import cohort_interaction

    scenario, interaction, rep, planted = args
    cohort = simulate_cohort(scenario, interaction, rep)
    start = time.perf_counter()
    r = cohort_interaction(cohort, null_replicates=99, ci_replicates=40, planted_replicates=40 if planted else 0,
                           seed=rep)
    row = {"scenario": scenario, "interaction": interaction or 0.0, "rep": rep,
           "truth": cohort.truth["interaction"]["mean"]["intershap"]["abs"], "estimate": r["estimate"], "model_intershap": r["model_intershap"],
           "ci_low": r["ci"][0], "ci_high": r["ci"][1], "p_value": r["p_value"], "p_chi2": r["p_chi2"],
           "statistic": r["statistic"], "penalty": r["penalty"], "seconds": time.perf_counter() - start}
    if planted:
        row["minimum_detectable"] = r["minimum_detectable"]
        row["planted_intershap"] = r["planted"]["planted_intershap"]
        row["detection_rate"] = r["planted"]["detection_rate"]
    return row


def cohort_tables(df: pd.DataFrame) -> str:
    lines = ["| cohorts | truth (mean) | rejections, bootstrap p < 0.05 | chi-square p < 0.05 | estimate (mean) "
             "| bias | CI covers truth | product model's raw InterSHAP (mean) | s / cohort |",
             "|---|---|---|---|---|---|---|---|---|"]
    # the audit's estimate: the centre of the basic bootstrap CI where p <= 0.05, else 0 (rows of runs made
    # before the estimate was bias-corrected stored the uncorrected InterSHAP as "estimate")
    df = df.assign(estimate=np.where(df["p_value"] <= 0.05, (df["ci_low"] + df["ci_high"]) / 2, 0.0))
    for (scen, inter), g in df.groupby(["scenario", "interaction"], sort=False):
        covered = (g["ci_low"] <= g["truth"] + 1e-12) & (g["truth"] <= g["ci_high"] + 1e-12)
        lines.append(f"| {scen}-sim, interaction {inter:g} | {100 * g['truth'].mean():.1f} % | "
                     f"{rate(g['p_value'] < 0.05)} | {rate(g['p_chi2'] < 0.05)} | {100 * g['estimate'].mean():.1f} % "
                     f"| {100 * (g['estimate'] - g['truth']).mean():+.1f} pp | {rate(covered)} | "
                     f"{100 * g['model_intershap'].mean():.1f} % | {g['seconds'].mean():.1f} |")
    if "minimum_detectable" in df:
        planted = df.dropna(subset=["minimum_detectable"])
        if len(planted):
            lines += ["", "Planted-interaction curve of the interaction-0 cohorts vs the simulated power "
                      "(detection rate interpolated at the true InterSHAP of interaction 0.15 / 0.3):", "",
                      "| interaction | true InterSHAP (mean) | simulated power | planted-curve rate (mean over "
                      f"{len(planted)} cohorts) |", "|---|---|---|---|"]
            for inter in (0.15, 0.3):
                g = df[(df["scenario"] == "glioma") & (df["interaction"] == inter)]
                if not len(g):
                    continue
                truth = g["truth"].mean()
                curve = [np.interp(truth, row.planted_intershap, row.detection_rate) for row in planted.itertuples()]
                lines.append(f"| {inter:g} | {100 * truth:.1f} % | {rate(g['p_value'] < 0.05)} | "
                             f"{100 * np.mean(curve):.1f} % |")
            md = planted["minimum_detectable"]
            lines += ["", f"Minimum detectable InterSHAP (80 % power) of the interaction-0 cohorts: mean "
                      f"{100 * md.mean():.1f} %, range {100 * md.min():.1f}-{100 * md.max():.1f} %."]
    return "\n".join(lines)


def arch_job(args: tuple[str, float | None, int]) -> list[dict]:
    from intersurv.audit.interaction_test import heldout_unit_test
    from intersurv.interactions import explain
    from intersurv.interactions.additivity_test import principal_scores
    from intersurv.seeds import HELDOUT_TEST, derive_seed
    from intersurv.training import fit
    from intersurv.training.splits import holdout_split

    scenario, interaction, rep = args
    cohort = simulate_cohort(scenario, interaction, rep)
    split = holdout_split(cohort.event, test_fraction=0.2, seed=rep)
    train, test = cohort.subset(split.train), cohort.subset(split.test)
    adjust = np.column_stack(list(principal_scores(cohort.modalities).values()))[split.test]
    rows = []
    for arch in FUSION:
        start = time.perf_counter()
        model = fit(train, arch, seed=rep, reduce="auto")
        exp = explain(model, test, output="log_risk")
        f, f_add = exp.coalition_values[:, -1], exp.additive_projection()
        r = heldout_unit_test(f, f_add, test.time, test.event, adjust,
                              rng=np.random.default_rng(derive_seed(HELDOUT_TEST, rep, 0)))
        plain = heldout_unit_test(f, f_add, test.time, test.event, replicates=0)  # its Wald z only
        rows.append({"scenario": scenario, "interaction": interaction or 0.0, "rep": rep, "arch": arch,
                     "intershap": exp.score(), "z": r["z"], "wald_z": r["wald_z"], "beta": r["beta"],
                     "se": r["se"], "z_unadjusted": plain["wald_z"], "tested": r["tested"],
                     "seconds": time.perf_counter() - start})
    return rows


def arch_tables(df: pd.DataFrame) -> str:
    from scipy.stats import norm

    lines = []
    variants = [("z", "adjusted for the principal scores, parametric-bootstrap p (default)"),
                ("wald_z", "adjusted for the principal scores, Wald z against the normal"),
                ("z_unadjusted", "beside f_add only, Wald z against the normal")]
    for column, label in (v for v in variants if v[0] in df):
        lines += ["", f"Rejections at p < 0.05, held-out test {label}:", "",
                  "| cohorts | " + " | ".join(FUSION) + " |", "|---|" + "---|" * len(FUSION)]
        for (scen, inter), g in df.groupby(["scenario", "interaction"], sort=False):
            cells = []
            for arch in FUSION:
                a = g[g["arch"] == arch]
                p = np.where(a["tested"], norm.sf(a[column].fillna(0.0)), 1.0)
                cells.append(rate(pd.Series(p < 0.05)))
            lines.append(f"| {scen}-sim, interaction {inter:g} | " + " | ".join(cells) + " |")
    lines += ["", "Mean raw InterSHAP of the units (for comparison):", "",
              "| cohorts | " + " | ".join(FUSION) + " |", "|---|" + "---|" * len(FUSION)]
    for (scen, inter), g in df.groupby(["scenario", "interaction"], sort=False):
        means = g.groupby("arch")["intershap"].mean()
        lines.append(f"| {scen}-sim, interaction {inter:g} | "
                     + " | ".join(f"{100 * means[a]:.1f} %" for a in FUSION) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study", choices=("cohort", "arch"))
    ap.add_argument("--null", type=int, default=200)
    ap.add_argument("--alt", type=int, default=100)
    ap.add_argument("--planted", type=int, default=20)
    ap.add_argument("--start", type=int, default=0, help="first replicate (to split a study over several runs)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--tables-only", action="store_true", help="rebuild the tables from DIR/<study>.jsonl")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / f"{args.study}.jsonl"  # a study split over runs: one DIR each, then concatenate
    command = "PYTHONPATH=src python validation/interaction_test.py " + " ".join(argv or sys.argv[1:])
    if not args.tables_only:
        start = time.perf_counter()
        cells = [("glioma", 0.0, args.null), ("additive", None, args.null), ("glioma", 0.15, args.alt),
                 ("glioma", 0.3, args.alt)]
        # replicate-major order: a study stopped early still has every cell
        order = [(s, i, r) for r in range(args.start, max(args.null, args.alt)) for s, i, n in cells if r < n]
        if args.study == "cohort":
            jobs = [(s, i, r, s == "glioma" and i == 0.0 and r < args.planted) for s, i, r in order]
            fn = cohort_job
        else:
            jobs, fn = order, arch_job
        log.write_text("")
        with ProcessPoolExecutor(args.jobs) as pool, log.open("a") as sink:
            for result in pool.map(fn, jobs):
                for row in (result if isinstance(result, list) else [result]):
                    sink.write(json.dumps(row) + "\n")
                sink.flush()
        (args.out / f"{args.study}.runtime").write_text(f"{(time.perf_counter() - start) / 60:.1f} min with "
                                                         f"{args.jobs} process(es)")
    df = pd.read_json(log, lines=True, precise_float=True)
    runtime = args.out / f"{args.study}.runtime"
    took = runtime.read_text() if runtime.exists() else "stopped early"
    text = (f"```\n{command}\n```\n\n{dt.date.today().isoformat()}, {took}.\n\n"
            f"{(cohort_tables if args.study == 'cohort' else arch_tables)(df)}\n")
    (args.out / f"{args.study}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
