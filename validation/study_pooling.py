"""Coverage of the study's pooled ΔC interval (``intersurv study``) on simulated replicates.

A replicate is a study of K cohorts. Each cohort is a glioma-sim cohort (16 wsi
features, 16 genes, no interaction; sizes cycle through ``--sizes``) whose two
prognostic factors have coefficients ``b_wsi = 0.5 + d_k`` and ``b_rna = 0.5 -
d_k``, with ``d_k ~ N(0, spread^2)`` drawn per cohort. Two fixed models (nothing
trained, as in ``validation/comparisons.py --models fixed``) are compared on
every unit of repeated stratified 5-fold CV (``--seeds`` x 5 units, the audit's
default 5 x 5): model A, the true log-risk without its ``rna_own`` term, against
model B, the true log-risk without its ``wsi_own`` term. Each cohort's paired
comparison is the audit's (:func:`intersurv.audit.comparisons.resampled_t`: mean
difference in Harrell's C, corrected resampled t interval), and the cohorts are
pooled by the study's own code (:func:`intersurv.study.summary.study_summary`:
each cohort's standard error from its interval, DerSimonian-Laird random effects) with
both intervals of :func:`intersurv.audit.meta.random_effects`: the DerSimonian-Laird normal
interval and the modified Hartung-Knapp interval the study reports.

The truth: A and B are exchangeable when ``d_k = 0`` (each misses one of two
factors of equal weight) and A's population advantage is an odd function of
``d_k``, so the mean of the cohorts' true differences, which the pooled
estimate targets, is 0 whatever the spread. ``spread = 0``: every cohort's true
difference is 0 (no heterogeneity); ``spread > 0``: the cohorts' true
differences vary around 0 (heterogeneity the random-effects model is for). The
study reports, per scenario and interval, how often the pooled 95 % interval covers 0
(and so how often A would be called "better" or "worse" pooled over cohorts), with
Clopper-Pearson intervals, the median width and the mean I².

Usage (each scenario ``K:spread``; resumable: finished replicates are read back from ``--out``)::

    PYTHONPATH=src python validation/study_pooling.py --replicates 500 --scenario 3:0 3:0.1 3:0.3 10:0.1 --out A.csv
    PYTHONPATH=src python validation/study_pooling.py --replicates 500 --scenario 5:0 5:0.1 5:0.3 --out B.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import intersurv
from intersurv.audit.comparisons import resampled_t
from intersurv.datasets.simulate import TrueLogRisk
from intersurv.metrics import harrell_c
from intersurv.study.summary import study_summary
from intersurv.training.splits import kfold_splits

sys.path.insert(0, str(Path(__file__).parent))
from comparisons import clopper_pearson, without_term  # noqa: E402  (the sibling validation script)

FOLDS = 5


def cohort_results(n: int, d: float, seed: int, seeds: int) -> dict:
    """A minimal ``results.json`` of one cohort: model A against model B ("late") over seeds x folds units."""
    cohort = intersurv.simulate("glioma", n=n, seed=seed, wsi_dim=16, rna_genes=16, b_wsi=0.5 + d, b_rna=0.5 - d,
                                interaction=0.0)
    a = without_term(cohort.truth, "rna_own")(cohort.X)
    b = without_term(cohort.truth, "wsi_own")(cohort.X)
    diffs, ratio = [], []
    for s in range(seeds):
        for split in kfold_splits(cohort.event, FOLDS, s):
            t, e = cohort.time[split.test], cohort.event[split.test]
            diffs.append(harrell_c(a[split.test], t, e) - harrell_c(b[split.test], t, e))
            ratio.append(len(split.test) / len(split.train))
    test = resampled_t(np.array(diffs), float(np.mean(ratio)))
    entry = {"ref_arch": "late", "delta_c": test["delta"], "ci": test["ci"], "df": test["df"],
             "p_value": test["p_value"]}
    return {"cohort": {"n_patients": n, "n_events": int(cohort.event.sum())},
            "architectures": {"model_a": {"c_index": {"mean": 0.0}}, "late": {"c_index": {"mean": 0.0}}},
            "comparisons": {"model_a": {"late": entry}}}


def one_replicate(index: int, k: int, spread: float, sizes: list[int], seeds: int) -> dict:
    rng = np.random.default_rng([index, k, int(round(spread * 1000)), 24])
    d = rng.normal(0.0, spread, size=k) if spread > 0 else np.zeros(k)
    cohorts = {f"c{j}": ("", cohort_results(sizes[j % len(sizes)], float(d[j]),
                                            seed=int(rng.integers(2**31)), seeds=seeds)) for j in range(k)}
    pooled = study_summary(cohorts)["pooled"]["late"]["model_a"]
    lo, hi = pooled["normal"]["ci"]
    lo_hk, hi_hk = pooled["ci"]  # the interval the study reports
    per_cohort = [cohorts[c][1]["comparisons"]["model_a"]["late"]["ci"] for c in cohorts]
    return {"replicate": index, "k": k, "spread": spread, "estimate": pooled["estimate"], "lo": lo, "hi": hi,
            "lo_hk": lo_hk, "hi_hk": hi_hk, "tau2": pooled["tau2"], "i2": pooled["i2"], "mean_d": float(d.mean()),
            "cohorts_covering": int(sum(c[0] <= 0 <= c[1] for c in per_cohort))}


#: The two intervals of :func:`intersurv.audit.meta.random_effects`: the normal one (``normal``) and the one reported.
INTERVALS = {"DerSimonian-Laird, normal": ("lo", "hi"), "Hartung-Knapp (modified), t on K - 1 df": ("lo_hk", "hi_hk")}


def summarise(df: pd.DataFrame) -> str:
    lines = ["| cohorts K | spread of d | replicates | pooled interval | covers 0 | Clopper-Pearson 95 % | "
             "\"better\" | \"worse\" | median width | cohorts whose own interval contains 0 | mean I² |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (k, spread), g in df.groupby(["k", "spread"], sort=True):
        n = len(g)
        for name, (lo, hi) in INTERVALS.items():
            cover = int(((g[lo] <= 0) & (g[hi] >= 0)).sum())
            cp = clopper_pearson(cover, n)
            lines.append(f"| {k} | {spread:g} | {n} | {name} | {cover}/{n} = {cover / n:.3f} | "
                         f"[{cp[0]:.3f}, {cp[1]:.3f}] | {int((g[lo] > 0).sum())} | {int((g[hi] < 0).sum())} | "
                         f"{(g[hi] - g[lo]).median():.3f} | {g['cohorts_covering'].sum() / (n * k):.3f} | "
                         f"{g['i2'].mean() * 100:.0f} % |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replicates", type=int, default=500, help="studies per scenario")
    p.add_argument("--scenario", nargs="+", default=["3:0", "3:0.1", "3:0.3", "5:0", "5:0.1", "5:0.3", "10:0.1"],
                   help="K:spread (cohorts per study : sd of d_k)")
    p.add_argument("--sizes", type=int, nargs="+", default=[300, 500, 200], help="patients per cohort, cycled")
    p.add_argument("--seeds", type=int, default=5, help="CV repeats per cohort (units = seeds x 5)")
    p.add_argument("--out", type=Path, required=True, help="CSV of per-replicate results (appended, resumable)")
    args = p.parse_args()
    done = pd.read_csv(args.out) if args.out.is_file() else pd.DataFrame(columns=["k", "spread", "replicate"])
    started = time.perf_counter()
    for scenario in args.scenario:
        k_text, _, spread_text = scenario.partition(":")
        k, spread = int(k_text), float(spread_text)
        have = set(done.loc[(done["k"] == k) & np.isclose(done["spread"].astype(float), spread), "replicate"])
        for i in range(args.replicates):
            if i in have:
                continue
            row = pd.DataFrame([one_replicate(i, k, spread, args.sizes, args.seeds)])
            row.to_csv(args.out, mode="a", header=not args.out.is_file(), index=False)
            if (i + 1) % 50 == 0:
                print(f"{scenario}: {i + 1}/{args.replicates} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)
    df = pd.read_csv(args.out)
    print(f"`{' '.join(sys.argv)}` ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; cohort sizes "
          f"{args.sizes} cycled, {args.seeds} x {FOLDS}-fold CV per cohort, {time.perf_counter() - started:.0f} s)\n")
    print(summarise(df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
