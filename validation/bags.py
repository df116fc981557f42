"""Attention MIL on ``glioma-bags``: does it beat mean pooling, and does attention find the informative patches?

The built-in ``glioma-bags`` cohort (n = 575; 200-2,000 patches of width 768 per
patient, ~5 % informative patches shifted by the WSI's own prognostic factor;
:mod:`intersurv.datasets.bag_sim`) is run through the experiment machinery of
the audit with two architectures:

* ``unimodal:wsi``: gated-attention MIL on the bags (the default for a bag modality, with the
  training settings' defaults unless ``--train KEY=VALUE`` changes one, e.g. ``--train bag_heads=2``),
* ``unimodal:wsi@pooled``: the same network on the bags' mean patch vector,

over repeated stratified 5-fold CV (``--seeds``), so the two share every
split. The comparison is the audit's own paired comparison
(:func:`intersurv.audit.comparisons.compare`: mean unit difference in Harrell's
C with the Nadeau-Bengio corrected resampled t interval). Attention: for
every MIL unit and test patient, the AUROC of the patch attention weights
(``attention.parquet``) against the simulator's true informative flag; the
table gives the mean over test patients and units, and ``per_unit`` each MIL unit's C, its
pooled twin's C, its attention AUROC and its best epoch.

The run directory is resumable: a second call trains only the units that are
missing, so the study can be run in chunks (e.g. ``timeout 840``); the summary
is printed (and written as JSON with ``--json``) once every unit is done.

Usage::

    PYTHONPATH=src python validation/bags.py --out /tmp/bags_validation --seeds 0 1 2 --jobs 2 \\
        --json validation/bags.json
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd


def attention_auroc(run_units, cohort) -> list[float]:
    """Mean per-patient AUROC of attention vs the true informative flag, one value per MIL unit."""
    from sklearn.metrics import roc_auc_score

    from intersurv.positions import positions
    from intersurv.training.mil_fit import ATTENTION_FILE

    bags = cohort.bags["wsi"]
    out = []
    for unit in run_units:
        table = pd.read_parquet(unit.path / ATTENTION_FILE)
        aucs = []
        for pid, rows in table.groupby("patient_id", sort=False):
            flag = bags.informative(int(positions(cohort.ids, [pid])[0]))
            if 0 < flag.sum() < len(flag):
                aucs.append(roc_auc_score(flag, rows.sort_values("patch")["weight"].to_numpy()))
        out.append(float(np.mean(aucs)))
    return out


def room(cohort) -> dict[str, float]:
    """Harrell's C over the whole cohort of the true log-risk, of its best quadratic approximation from the
    two WSI factors (grade and the WSI's own factor: what a perfect WSI-only model could know) and of the
    best quadratic from the grade alone (about what the pooled mean can read)."""
    from intersurv.metrics import harrell_c

    latent = cohort.truth["latent"]
    row = {p: i for i, p in enumerate(latent["ids"])}
    at = [row[str(p)] for p in cohort.ids]
    grade, own, h = (np.asarray(latent[k], dtype=np.float64)[at] for k in ("wsi_grade", "wsi_own", "log_risk"))
    both = np.column_stack([np.ones_like(grade), grade, grade ** 2, own, own ** 2, grade * own])

    def c_of_fit(x: np.ndarray) -> float:
        return float(harrell_c(x @ np.linalg.lstsq(x, h, rcond=None)[0], cohort.time, cohort.event))

    return {"c_true": float(harrell_c(h, cohort.time, cohort.event)), "c_wsi_quadratic": c_of_fit(both),
            "c_grade_quadratic": c_of_fit(both[:, :3])}


def main() -> None:
    import intersurv
    from intersurv.audit.comparisons import compare, unit_scores
    from intersurv.training.config import ExperimentConfig
    from intersurv.training.experiment import run_experiment
    from intersurv.training.settings import DEFAULT_TRAIN

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-epochs", type=int, default=DEFAULT_TRAIN.max_epochs, help="default: the audit's")
    ap.add_argument("--patience", type=int, default=DEFAULT_TRAIN.patience, help="default: the audit's")
    ap.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                    help="a [train] setting for both models (TOML value), e.g. bag_mean=false; repeatable")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--smoke", action="store_true", help="a small glioma-bags (n=120, width 32) to try the script")
    ap.add_argument("--cohort-seed", type=int, default=0,
                    help="simulation seed of glioma-bags (0: the built-in cohort; another seed draws a cohort of the "
                         "same design, written once to OUT.cohort, e.g. to choose settings away from the built-in)")
    args = ap.parse_args()

    train = {}
    for item in args.train:
        key, _, value = item.partition("=")
        train[key.strip()] = tomllib.loads(f"v = {value}")["v"]
    started = time.perf_counter()
    source = "glioma-bags"
    if args.smoke:
        cohort = intersurv.simulate("glioma-bags", n=120, seed=0, wsi_dim=32, min_patches=20, max_patches=60)
        source = ""
    elif args.cohort_seed:
        from intersurv.io.cohort_dir import write_cohort_dir

        source = str(args.out.with_suffix(".cohort"))
        if not Path(source).is_dir():
            write_cohort_dir(intersurv.simulate("glioma-bags", n=575, seed=args.cohort_seed), source)
        cohort = intersurv.load_cohort(source)
    else:
        cohort = intersurv.load_cohort(source)
    mil, pooled = "unimodal:wsi", "unimodal:wsi@pooled"
    config = ExperimentConfig.from_dict({
        "cohort": source, "architectures": [mil, pooled], "seeds": list(args.seeds),
        "protocol": {"kind": "cv", "folds": args.folds}, "threads": 1,
        "train": {"max_epochs": args.max_epochs, "patience": args.patience, "batch_size": 64, **train},
    })
    units = run_experiment(config, args.out, cohort=cohort, jobs=args.jobs)
    done = [u for u in units if u.done]
    scores = {a: [unit_scores(u) for u in done if u.arch == a] for a in (mil, pooled)}
    paired = compare(scores[mil], scores[pooled], "cv")
    mil_units = [u for u in done if u.arch == mil]
    auroc = attention_auroc(mil_units, cohort)
    c = {a: [s.metrics["c_harrell"] for s in scores[a]] for a in (mil, pooled)}
    c_pooled = {(u.seed, u.fold): u.result["metrics"]["c_harrell"] for u in done if u.arch == pooled}
    per_unit = [{"seed": u.seed, "fold": u.fold, "c_mil": round(u.result["metrics"]["c_harrell"], 4),
                 "c_pooled": round(c_pooled[u.seed, u.fold], 4), "attention_auroc": round(a, 3),
                 "best_epoch": u.result["best_epoch"]} for u, a in zip(mil_units, auroc)]
    summary = {
        "cohort": "smoke" if args.smoke else f"glioma-bags (n=575, seed {args.cohort_seed})", "seeds": list(args.seeds),
        "folds": args.folds,
        "train": train,
        "units": {a: len(v) for a, v in c.items()},
        "c_mil": {"mean": float(np.mean(c[mil])), "sd": float(np.std(c[mil], ddof=1))},
        "c_pooled": {"mean": float(np.mean(c[pooled])), "sd": float(np.std(c[pooled], ddof=1))},
        "delta_c": paired["delta_c"], "ci": paired["ci"], "p_value": paired["p_value"],
        "attention_auroc": {"mean": float(np.mean(auroc)), "min": float(np.min(auroc)), "units": len(auroc)},
        "seconds": round(time.perf_counter() - started, 1),  # this call (a resumed call trains only what is missing)
        "unit_seconds": round(sum(u.result["seconds"] for u in done), 1),  # every unit's own time, summed
        "room": None if args.smoke else room(cohort),
        "per_unit": per_unit,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
