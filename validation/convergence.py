"""Do the networks converge before the epoch cap? (issue 24)

For each cohort (the built-in ``glioma-sim``; the three shared TCGA tables, imported as in
``validation/tcga_references.py`` with the covariates as a fourth modality ``clinical``) and each
architecture, one fit per fold of 5-fold CV (``--seeds`` repetitions; the audit's splits, stratified
by event and ``oncotree_code``), on the training folds, with the default training settings except
``reduce`` and ``max_epochs``. A fit *stops at the cap* when its best epoch is ``max_epochs``: the
validation loss was still falling when training was cut off. Per fit the CSV gets the best epoch,
the number of epochs run, Harrell's C on the held-out fold and, for the fusion networks, the
InterSHAP of the held-out fold (mean masker, log-risk output, ``abs`` aggregation: the audit's
defaults).

Several caps (``--max-epochs 200,1000``) share their fits: training up to the stop is the same
whatever the cap (same seed, same data, deterministic CPU), so a fit with the largest cap that
stopped by patience at or before a smaller cap *is* the fit with the smaller cap; only the others
are refitted with it.

    PYTHONPATH=src python validation/convergence.py --cohort glioma --reduce none,auto \
        --max-epochs 200,1000 --out validation/convergence.csv
    PYTHONPATH=src python validation/convergence.py --summary validation/convergence.csv

One row per fit is appended to ``--out`` (a run resumes where it stopped); ``--summary`` prints the
markdown table of docs/validation.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd

FUSION = ("early", "late", "cross_attention", "bilinear", "gated", "kronecker")
COLUMNS = ["cohort", "reduce", "max_epochs", "arch", "seed", "fold", "best_epoch", "epochs", "c_index",
           "intershap", "seconds"]


def load(name: str):  # type: ignore[no-untyped-def]
    """The cohort ``name``: ``glioma`` (the built-in glioma-sim) or a shared TCGA table."""
    if name == "glioma":
        from intersurv.datasets.simulate import glioma_sim

        return glioma_sim()
    from tcga_references import load as load_tcga  # validation/ is on sys.path

    return load_tcga(name)


def fit_unit(train, test, arch: str, seed: int, reduce: str, max_epochs: int) -> dict:  # type: ignore[no-untyped-def]
    from intersurv.interactions import explain
    from intersurv.metrics import harrell_c
    from intersurv.training.fit import fit

    start = time.perf_counter()
    model = fit(train, arch, seed=seed, reduce=reduce, max_epochs=max_epochs)
    c = harrell_c(model(test.X), test.time, test.event)
    intershap = explain(model, test, output="log_risk").score() if arch in FUSION else float("nan")
    return {"best_epoch": model.best_epoch, "epochs": len(model.history["val"]), "c_index": c,
            "intershap": intershap, "seconds": time.perf_counter() - start}


def run(name: str, out: Path, seeds: int, folds: int, reduces: list[str], caps: list[int],
        archs: list[str] | None) -> None:
    import torch

    from intersurv.training.splits import kfold_splits

    torch.set_num_threads(1)
    logging.getLogger("intersurv").setLevel(logging.ERROR)  # the cap warnings are what this counts
    cohort = load(name)
    names = archs or [*FUSION, *(f"unimodal:{m}" for m in cohort.modality_names)]
    done: set[tuple] = set()
    if out.exists():
        prev = pd.read_csv(out)
        done = set(zip(prev["cohort"], prev["reduce"].astype(str), prev["max_epochs"], prev["arch"], prev["seed"],
                       prev["fold"]))
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(",".join(COLUMNS) + "\n")
    caps = sorted(caps, reverse=True)
    for seed in range(seeds):
        for fold, split in enumerate(kfold_splits(cohort.event, folds, seed, cohort.group)):
            train, test = cohort.subset(split.train), cohort.subset(split.test)
            for reduce in reduces:
                for arch in names:
                    if all((name, reduce, cap, arch, seed, fold) in done for cap in caps):
                        continue
                    longest = fit_unit(train, test, arch, seed, reduce, caps[0])
                    for cap in caps:
                        row = longest if longest["epochs"] <= cap else fit_unit(train, test, arch, seed, reduce, cap)
                        if cap != caps[0] and longest["epochs"] <= cap:
                            row = {**row, "seconds": 0.0}  # the same fit (module docstring)
                        with open(out, "a") as fh:
                            fh.write(f"{name},{reduce},{cap},{arch},{seed},{fold},{row['best_epoch']},"
                                     f"{row['epochs']},{row['c_index']:.6f},{row['intershap']:.6f},"
                                     f"{row['seconds']:.2f}\n")
            print(f"{dt.datetime.now():%H:%M:%S} {name} seed {seed} fold {fold} done", flush=True)


def summary(paths: list[Path]) -> str:
    """Per cohort, reduce and architecture: fits at the cap, C and InterSHAP for each cap."""
    df = pd.concat([pd.read_csv(p) for p in paths])
    caps = sorted(df["max_epochs"].unique())
    lines = [f"Command: `{' '.join(['python', *sys.argv])}`; date {dt.date.today()}; "
             f"rows from {', '.join(p.name for p in paths)}.", "",
             "(mean ± SD over folds; at cap: fits whose best epoch is `max_epochs`; best epoch: the median over folds)", ""]
    head = " | ".join(f"at cap ({c}) | best epoch ({c}) | C ({c}) | InterSHAP ({c})" for c in caps)
    lines += [f"| cohort | reduce | architecture | fits | {head} |",
              "|---|---|---|---|" + "---|" * (4 * len(caps))]
    total = {c: [0, 0] for c in caps}
    for (name, reduce, arch), d in df.groupby(["cohort", "reduce", "arch"], sort=False):
        cells = []
        for cap in caps:
            g = d[d["max_epochs"] == cap]
            at_cap = int((g["best_epoch"] == cap).sum())
            total[cap][0] += at_cap
            total[cap][1] += len(g)
            shap = (f"{100 * g['intershap'].mean():.1f} ± {100 * g['intershap'].std():.1f} %"
                    if g["intershap"].notna().any() else "-")
            cells.append(f"{at_cap}/{len(g)} | {int(g['best_epoch'].median())} | "
                         f"{g['c_index'].mean():.3f} ± {g['c_index'].std():.3f} | {shap}")
        lines.append(f"| {name} | {reduce} | {arch} | {len(d) // len(caps)} | {' | '.join(cells)} |")
    lines += ["", "All fits: " + "; ".join(f"max_epochs {c}: {k}/{n} = {100 * k / n:.1f} % at the cap"
                                          for c, (k, n) in total.items()) + ".", "",
              "| cohort | reduce | fits | " + " | ".join(f"at cap ({c})" for c in caps)
              + f" | largest best epoch ({caps[-1]}) |", "|---|---|---|" + "---|" * (len(caps) + 1)]
    for (name, reduce), d in df.groupby(["cohort", "reduce"], sort=False):
        rates = [f"{int((g['best_epoch'] == c).sum())}/{len(g)} = {100 * (g['best_epoch'] == c).mean():.1f} %"
                 for c, g in ((c, d[d["max_epochs"] == c]) for c in caps)]
        lines.append(f"| {name} | {reduce} | {len(d) // len(caps)} | {' | '.join(rates)} | "
                     f"{int(d[d['max_epochs'] == caps[-1]]['best_epoch'].max())} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", choices=["glioma", "gbmlgg", "brca", "coadread"])
    p.add_argument("--out", type=Path)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--reduce", default="none", help="comma-separated reduce settings (none, auto)")
    p.add_argument("--max-epochs", default="200,1000", help="comma-separated epoch caps")
    p.add_argument("--arch", help="comma-separated architectures (default: the six fusion ones and every "
                                  "unimodal:<m>)")
    p.add_argument("--summary", nargs="+", type=Path, metavar="CSV")
    a = p.parse_args()
    if a.summary:
        print(summary(a.summary))
        return
    if not (a.cohort and a.out):
        p.error("--cohort and --out are required (or --summary)")
    run(a.cohort, a.out, a.seeds, a.folds, a.reduce.split(","), [int(c) for c in a.max_epochs.split(",")],
        a.arch.split(",") if a.arch else None)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
