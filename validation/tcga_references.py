"""Real TCGA cohorts: networks against penalised linear Cox references, per input transform.

Imports the shared MCAT/PORPOISE tables (``../shared/data/tcga``; GBMLGG with
its WHO grade table) with :func:`intersurv.io.tcga_table.import_tcga_table`
and runs repeated 5-fold cross-validation (5 seeds, the audit's own splits:
stratified by event and ``oncotree_code``). In each fold, on the training
folds only (the networks carve their early-stopping validation part out of
them, the linear models choose their penalty by inner CV on them), it fits

* ``unimodal:<m>`` for every omics modality under each input transform
  (``standardize``, ``clip``, ``rank_normal``),
* ``linear:<m>`` (elastic-net Cox, same inputs, standardised and rank-normal) and ``clinical`` (the
  covariates: age, sex and, for GBMLGG, WHO grade),
* fusion networks over the omics modalities plus the covariates as modality
  ``clinical`` (``late``, ``early``, ``gated``) under each transform, and the
  linear Cox on the same inputs (``linear`` over every modality at once),

and scores Harrell's C on the held-out fold. With ``--skip zero`` or
``--skip cox`` only the networks are fitted, with that linear skip term
(:mod:`intersurv.models.wide`; labels ``... [skip=cox]``). With
``--missing 0.3`` the cohort first loses one omics modality (chosen at random) in 30 % of the
patients, at random (seeded), and only the fusion networks are fitted: the
missing modality is imputed by the training mean (``allow_missing``). One CSV row per fit is appended
to ``--out`` (the run resumes where it stopped); ``--summary`` prints the
markdown tables of docs/validation.md (mean ± SD over the 25 folds, and
the number of fits whose best epoch was 1).

    nice -n 10 python validation/tcga_references.py --cohort gbmlgg --out validation/tcga_gbmlgg.csv
    nice -n 10 python validation/tcga_references.py --cohort gbmlgg --missing 0.3 --out validation/tcga_gbmlgg_missing.csv
    nice -n 10 python validation/tcga_references.py --cohort gbmlgg --select linear:rank_normal \
        --out validation/tcga_gbmlgg_linear_rank.csv
    nice -n 10 python validation/tcga_references.py --cohort gbmlgg --skip cox \
        --select unimodal,late,early,gated:rank_normal --out validation/tcga_gbmlgg_skip_cox.csv
    python validation/tcga_references.py --summary validation/tcga_gbmlgg*.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: The shared tables (a clone's ``../shared``; a git worktree elsewhere sets ``INTERSURV_TCGA_DATA``).
DATA = Path(os.environ.get("INTERSURV_TCGA_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga"))
TRANSFORMS = ("standardize", "clip", "rank_normal")
FUSION = ("late", "early", "gated")
OMICS = ("rna", "cnv", "mut")


def load(name: str):  # type: ignore[no-untyped-def]
    from intersurv.io.tcga_table import import_tcga_table

    clinical = DATA / "tcga_gbmlgg_clinical.csv" if name == "gbmlgg" else None
    report = import_tcga_table(DATA / f"tcga_{name}_all_clean.csv.zip", clinical=clinical,
                               drop_incomplete=True, name=f"tcga-{name}")
    return report.cohort.with_covariates_modality("clinical")


def drop_modalities(cohort, share: float, seed: int = 0):  # type: ignore[no-untyped-def]
    """``share`` of the patients lose one omics modality each (random patients, random modality)."""
    from intersurv.cohort import Cohort

    rng = np.random.default_rng(seed)
    mods = {m: x.copy() for m, x in cohort.modalities.items()}
    for a in rng.choice(cohort.n_patients, size=int(round(share * cohort.n_patients)), replace=False):
        mods[OMICS[rng.integers(len(OMICS))]][a] = np.nan
    return Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=mods,
                  feature_names=cohort.feature_names, group=cohort.group, covariates=cohort.covariates,
                  kinds=cohort.kinds, name=cohort.name)


def jobs(missing: float) -> list[tuple[str, str, str]]:
    """(label, arch, transform) of every fit of a fold."""
    if missing:
        return [(f"{a} + clinical", a, t) for t in TRANSFORMS for a in FUSION]
    out = [("clinical", "clinical", "standardize")]
    out += [(f"linear:{m}", f"linear:{m}", "standardize") for m in OMICS]
    out += [(f"unimodal:{m}", f"unimodal:{m}", t) for t in TRANSFORMS for m in OMICS]
    out += [("linear (all + clinical)", "linear:all", "standardize")]
    out += [(f"{a} + clinical", a, t) for t in TRANSFORMS for a in FUSION]
    # the linear references on the rank-normal inputs too (added after the first pass; appended
    # last so that a resumed run fills them in)
    out += [(f"linear:{m}", f"linear:{m}", "rank_normal") for m in OMICS]
    out += [("linear (all + clinical)", "linear:all", "rank_normal")]
    return out


def run(name: str, out: Path, seeds: int, folds: int, missing: float, select: str | None = None,
        skip: str = "none") -> None:
    import torch

    from intersurv.metrics import harrell_c
    from intersurv.training.fit import fit
    from intersurv.training.splits import kfold_splits

    torch.set_num_threads(1)
    cohort = load(name)
    if missing:
        cohort = drop_modalities(cohort, missing)
        name = f"{name} ({missing:.0%} of patients missing one modality)"
    done = set()
    if out.exists():
        prev = pd.read_csv(out)
        done = set(zip(prev["model"], prev["transform"], prev["seed"], prev["fold"]))
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("cohort,model,transform,seed,fold,c_index,best_epoch,seconds\n")
    all_mods = [*OMICS, "clinical"]
    for seed in range(seeds):
        for fold, split in enumerate(kfold_splits(cohort.event, folds, seed, cohort.group)):
            train, test = cohort.subset(split.train), cohort.subset(split.test)
            for label, arch, transform in jobs(missing):
                prefixes, _, wanted = (select or "").rpartition(":")
                if select and not (label.startswith(tuple(prefixes.split(","))) and transform == wanted):
                    continue
                network = not arch.startswith(("linear", "clinical"))
                if skip != "none":  # the networks with a linear skip term only (models/wide.py)
                    if not network:
                        continue
                    label = f"{label} [skip={skip}]"
                if (label, transform, seed, fold) in done:
                    continue
                t0 = time.perf_counter()
                if arch == "linear:all":  # one linear Cox over every modality: concatenate them
                    tr = merged(train, all_mods)
                    te = merged(test, all_mods)
                    model = fit(tr, "linear:all", seed=seed, transform=transform)
                else:
                    tr, te = train, test
                    if arch in FUSION:
                        tr, te = train.select_modalities(all_mods), test.select_modalities(all_mods)
                    model = fit(tr, arch, seed=seed, transform=transform, **({"skip": skip} if network else {}))
                c = harrell_c(model(te.X), te.time, te.event)
                with open(out, "a") as fh:
                    fh.write(f"{name},{label},{transform},{seed},{fold},{c:.6f},{model.best_epoch},"
                             f"{time.perf_counter() - t0:.2f}\n")
            print(f"{dt.datetime.now():%H:%M:%S} {name} seed {seed} fold {fold} done", flush=True)


def merged(cohort, mods):  # type: ignore[no-untyped-def]
    """The cohort with one modality ``all``: the named modalities side by side."""
    from intersurv.cohort import Cohort

    x = np.concatenate([cohort.modalities[m] for m in mods], axis=1)
    names = [f"{m}:{f}" for m in mods for f in cohort.feature_names[m]]
    return Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities={"all": x},
                  feature_names={"all": names}, time_unit=cohort.time_unit, name=cohort.name)


def summary(paths: list[Path]) -> str:
    df = pd.concat([pd.read_csv(p) for p in paths])
    lines = [f"Command: `{' '.join(['python', *sys.argv])}`; date {dt.date.today()}; "
             f"rows from {', '.join(p.name for p in paths)}.", ""]
    for name, d in df.groupby("cohort", sort=False):
        g = d.groupby(["model", "transform"], sort=False)
        tab = g["c_index"].agg(["mean", "std", "count"]).join(
            g["best_epoch"].agg(epoch1=lambda e: int((e == 1).sum())))
        lines += [f"**TCGA-{name.upper()}** (Harrell's C on held-out folds, mean ± SD over seeds x folds)", "",
                  "| model | transform | C-index | fits | best epoch 1 |", "|---|---|---|---|---|"]
        for (model, transform), r in tab.iterrows():
            lines.append(f"| {model} | {transform} | {r['mean']:.3f} ± {r['std']:.3f} | {int(r['count'])} | "
                         f"{int(r['epoch1']) if not model.startswith(('linear', 'clinical')) else '-'} |")
        lines.append("")
    lines += paired_missing(df)
    return "\n".join(lines)


def paired_missing(df: pd.DataFrame) -> list[str]:
    """Complete minus missing-modality C of the same model, transform, seed and fold."""
    key = ["model", "transform", "seed", "fold"]
    lines = []
    for name in df["cohort"].unique():
        if "missing" in name:
            continue
        for other in (n for n in df["cohort"].unique() if n.startswith(f"{name} (")):
            m = df[df["cohort"] == name].merge(df[df["cohort"] == other], on=key, suffixes=("_full", "_miss"))
            m["drop"] = m["c_index_full"] - m["c_index_miss"]
            g = m.groupby(["model", "transform"], sort=False)["drop"].agg(["mean", "std", "count"])
            lines += [f"**TCGA-{name.upper()}: complete minus {other.split('(', 1)[1].rstrip(')')}** "
                      "(paired by seed and fold)", "", "| model | transform | C drop | folds |", "|---|---|---|---|"]
            lines += [f"| {mod} | {t} | {r['mean']:+.3f} ± {r['std']:.3f} | {int(r['count'])} |"
                      for (mod, t), r in g.iterrows()]
            lines.append("")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", choices=["gbmlgg", "brca", "coadread"])
    p.add_argument("--out", type=Path)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--missing", type=float, default=0.0, help="share of patients losing one omics modality")
    p.add_argument("--select", metavar="PREFIX[,PREFIX...]:TRANSFORM",
                   help="fit only the models whose label starts with one of the PREFIXes, under TRANSFORM")
    p.add_argument("--skip", default="none", choices=["none", "zero", "cox"],
                   help="fit only the networks, with this linear skip term (label suffix [skip=...])")
    p.add_argument("--summary", nargs="+", type=Path)
    args = p.parse_args()
    if args.summary:
        print(summary(args.summary))
        return
    if not (args.cohort and args.out):
        p.error("--cohort and --out are required (or --summary CSV ...)")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(args.cohort, args.out, args.seeds, args.folds, args.missing, args.select, args.skip)


if __name__ == "__main__":
    main()
