"""``intersurv explain RUN_DIR``: InterSHAP of every finished model of a run directory.

Each finished unit's model is explained on its *test* patients with its
*training* patients as the reference set; per-patient values go to
``RUN/units/<unit>/interactions.csv`` and the global numbers of all units to
``RUN/explain_summary.json`` (both written atomically). Units with a single
modality (unimodal baselines) have no cross-modal interaction and are listed
as skipped.
"""

from __future__ import annotations

import argparse

from ..interactions.aggregation import AGGREGATIONS
from ..interactions.maskers import MASKERS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="InterSHAP of every finished model of a run directory",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="run directory (from intersurv train or audit)")
    p.add_argument("--masker", choices=MASKERS, default="mean",
                   help="masker of the coalition game (default mean)")
    p.add_argument("--output", default="log_risk",
                   help="scale explained: log_risk (default), risk, survival@<t> or rmst@<tau>")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default="abs",
                   help="global InterSHAP aggregation (default abs)")
    p.add_argument("--background", type=int, default=100, metavar="K",
                   help="reference patients averaged by the marginal masker (default 100)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates over patients for the CIs (default 200; 0 for none)")
    p.add_argument("--seed", type=int, default=0, help="seed of background draws and bootstrap (default 0)")
    p.add_argument("--batch-size", type=int, default=4096, help="model rows per forward pass (default 4096)")
    p.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    import logging

    import pandas as pd

    from ..errors import IntersurvError
    from ..interactions import explain
    from ..io.atomic import atomic_path, write_json_atomic
    from ..training.rundir import RunDir

    log = logging.getLogger("intersurv")
    run = RunDir(args.run)
    units = run.finished_units()
    if not units:
        raise IntersurvError(f"{run.path}: no finished units to explain")
    cohort = run.load_cohort()
    positions = pd.Index(cohort.ids)
    summary: dict = {
        "masker": args.masker, "output": args.output, "aggregation": args.aggregation,
        "background": args.background, "bootstrap": args.bootstrap, "seed": args.seed,
        "units": {}, "skipped": {},
    }
    for unit in units:
        model = unit.load_model()
        if len(model.modalities) < 2:
            summary["skipped"][unit.name] = f"one modality ({', '.join(model.modalities)})"
            continue
        pos = positions.get_indexer(unit.split["test"])
        if (pos < 0).any():
            raise IntersurvError(f"{unit.path / 'split.json'}: test patient "
                                 f"{unit.split['test'][int((pos < 0).argmax())]!r} is not in the cohort")
        e = explain(model, cohort.subset(pos), masker=args.masker, output=args.output,
                    aggregation=args.aggregation, background=args.background, bootstrap=args.bootstrap,
                    seed=args.seed, batch_size=args.batch_size)
        with atomic_path(unit.path / "interactions.csv") as tmp:
            e.to_frame().to_csv(tmp, index=False)
        summary["units"][unit.name] = {"arch": unit.arch, "seed": unit.seed, "fold": unit.fold, **e.summary()}
        shares = ", ".join(f"{m} {100 * v:.1f} %" for m, v in e.shares().items())
        print(f"{unit.name:<32} InterSHAP {100 * e.score():5.1f} %  ({shares})")
    for name, why in summary["skipped"].items():
        log.info("skipped %s: %s", name, why)
    write_json_atomic(run.path / "explain_summary.json", summary)
    print(f"wrote {run.path / 'explain_summary.json'}")
    return 0
