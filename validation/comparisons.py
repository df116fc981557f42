"""Calibration of the audit's paired comparison (intersurv.audit.comparisons) on simulated cohorts.

For each of ``--cohorts`` glioma-sim cohorts, every unit (seed s, fold f) of
repeated stratified k-fold CV (or one 80/20 hold-out per seed) trains

* model A: late fusion with training seed s,
* model B: late fusion with training seed s + 10,000 (a disjoint seed set),

on the same training fold and scores Harrell's C on the same test fold, and
also scores the true log-risk of the simulator on that fold. Then

* "equal": A against B are equal by construction (same architecture, same
  data, only the training randomness differs); the 95 % interval of the mean
  difference should cover 0 in >= 95 % of cohorts;
* "better": the true log-risk against A is better by construction; the
  interval should exclude 0 (lie above it) in most cohorts.

With ``--models fixed`` nothing is trained, so thousands of cohorts are cheap,
and the two models compared are equal in the population but not on a given
cohort: a cohort is simulated with ``b_wsi = b_rna = 0.5`` and no interaction,
model A is the true log-risk without its ``rna_own`` term and model B the true
log-risk without its ``wsi_own`` term (each misses one of two exchangeable
prognostic factors), and "better" is the full true log-risk against A. Here
the units' differences share the cohort's sampling error (every seed re-splits
the same patients), which is what the naive t-test ignores.

Both the corrected resampled t-test (Nadeau & Bengio; what the audit reports)
and the naive t-test over units are evaluated. Coverage / rejection rates get
Clopper-Pearson 95 % intervals. Late fusion is trained small (``--max-epochs``,
default 40, patience 10) so that 100 cohorts fit in about half an hour on a
shared 2-core machine: the calibration concerns how correlated the units'
differences are, which comes from the overlap of training and test sets, not
from how well the network is trained.

Usage (resumable: finished cohorts are read back from ``--out``; ``--offset``
splits the cohorts over processes, whose CSVs concatenate, and a run whose CSV
already holds ``--cohorts`` rows only prints the summary)::

    nice -n 10 python validation/comparisons.py --cohorts 100 --out /tmp/cmp_cv.csv
    nice -n 10 python validation/comparisons.py --cohorts 100 --protocol holdout --out /tmp/cmp_ho.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import intersurv
from intersurv.audit.comparisons import resampled_t
from intersurv.datasets.simulate import TrueLogRisk
from intersurv.metrics import harrell_c
from intersurv.training.splits import holdout_split, kfold_splits


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def without_term(truth: dict, readout: str) -> TrueLogRisk:
    """The true log-risk with the (main) term of ``readout`` left out."""
    spec = dict(truth["log_risk"])
    spec["terms"] = [t for t in spec["terms"] if t["readouts"] != [readout]]
    return TrueLogRisk(spec)


def one_cohort(index: int, args: argparse.Namespace) -> dict[str, float]:
    params = {"b_wsi": 0.5, "b_rna": 0.5, "interaction": 0.0} if args.models == "fixed" else {}
    cohort = intersurv.simulate("glioma", n=args.n, seed=10_000 + index, wsi_dim=16, rna_genes=16, **params)
    truth = TrueLogRisk(cohort.truth)(cohort.X)
    if args.models == "fixed":
        fixed_a = without_term(cohort.truth, "rna_own")(cohort.X)
        fixed_b = without_term(cohort.truth, "wsi_own")(cohort.X)
    equal, better, n_train, n_test = [], [], [], []
    for seed in range(args.seeds):
        seed_of_split = 1_000 * index + seed
        splits = (kfold_splits(cohort.event, args.folds, seed_of_split) if args.protocol == "cv"
                  else [holdout_split(cohort.event, 0.2, seed_of_split)])
        for split in splits:
            train, test = cohort.subset(split.train), cohort.subset(split.test)
            if args.models == "fixed":
                a, b = fixed_a[split.test], fixed_b[split.test]
            else:
                fit = dict(max_epochs=args.max_epochs, patience=10)
                a = intersurv.fit(train, "late", seed=seed, **fit).predict_log_risk(test.X)
                b = intersurv.fit(train, "late", seed=seed + 10_000, **fit).predict_log_risk(test.X)
            c_a, c_b = harrell_c(a, test.time, test.event), harrell_c(b, test.time, test.event)
            c_true = harrell_c(truth[split.test], test.time, test.event)
            equal.append(c_a - c_b)
            better.append(c_true - c_a)
            n_train.append(len(split.train))
            n_test.append(len(split.test))
    ratio = float(np.mean(n_test) / np.mean(n_train))
    row: dict[str, float] = {"cohort": index, "units": len(equal), "ratio": ratio}
    for name, diffs in (("equal", equal), ("better", better)):
        for method, corrected in (("corrected", True), ("naive", False)):
            r = resampled_t(np.array(diffs), ratio, corrected=corrected)
            row[f"{name}_{method}_lo"], row[f"{name}_{method}_hi"] = r["ci"]
        row[f"{name}_delta"] = float(np.mean(diffs))
    return row


def summarise(df: pd.DataFrame) -> str:
    n = len(df)
    lines = ["| comparison | interval | criterion | rate | Clopper-Pearson 95 % |", "|---|---|---|---|---|"]
    for name, crit in (("equal", "covers 0"), ("better", "excludes 0 (above)")):
        for method in ("corrected", "naive"):
            lo, hi = df[f"{name}_{method}_lo"], df[f"{name}_{method}_hi"]
            hits = int(((lo <= 0) & (hi >= 0)).sum()) if name == "equal" else int((lo > 0).sum())
            cp = clopper_pearson(hits, n)
            lines.append(f"| {name} | {method} | {crit} | {hits}/{n} = {hits / n:.2f} | "
                         f"[{cp[0]:.2f}, {cp[1]:.2f}] |")
    lines.append(f"\nmean difference: equal {df['equal_delta'].mean():+.4f} (sd {df['equal_delta'].std():.4f}), "
                 f"better {df['better_delta'].mean():+.4f} (sd {df['better_delta'].std():.4f}); "
                 f"{int(df['units'].iloc[0])} units per cohort, n_test/n_train {df['ratio'].mean():.3f}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohorts", type=int, default=100)
    p.add_argument("--n", type=int, default=300, help="patients per cohort")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--protocol", choices=("cv", "holdout"), default="cv")
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--models", choices=("late", "fixed"), default="late",
                   help="late: late fusion under two disjoint seed sets; fixed: two partial true log-risks")
    p.add_argument("--offset", type=int, default=0,
                   help="first cohort index (to split the study over processes; concatenate their CSVs)")
    p.add_argument("--out", type=Path, required=True, help="CSV of per-cohort results (appended, resumable)")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    done = pd.read_csv(args.out) if args.out.is_file() else pd.DataFrame()
    started = time.perf_counter()
    for i in range(len(done), args.cohorts):
        row = pd.DataFrame([one_cohort(args.offset + i, args)])
        row.to_csv(args.out, mode="a", header=not args.out.is_file(), index=False)
        print(f"cohort {i + 1}/{args.cohorts} done ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)
    df = pd.read_csv(args.out)
    print(f"`{' '.join(sys.argv)}` ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"{len(df)} cohorts of {args.n} patients, {args.protocol}, seeds {args.seeds}"
          f"{f', folds {args.folds}' if args.protocol == 'cv' else ''}, "
          f"{'fixed partial true log-risks' if args.models == 'fixed' else f'late fusion max_epochs {args.max_epochs}'})\n")
    print(summarise(df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
