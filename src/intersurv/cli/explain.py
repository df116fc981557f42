"""``intersurv explain RUN_DIR``: InterSHAP of every finished model of a run directory.

Each finished unit's model is explained on its *test* patients with its
*training* patients as the reference set; per-patient values go to
``OUT/units/<unit>/interactions.csv`` (the format of
:mod:`intersurv.interactions.table`) and the global numbers of all units to
``OUT/explain_summary.json`` (both written atomically); ``OUT`` is the run
directory unless ``--out`` names another. An audit's run directory already
holds each unit's explanation, which the audit reads back when it resumes:
there ``--out`` is required, so the audit's files are never overwritten.
Units with a single modality (unimodal baselines) have no cross-modal
interaction and are listed as skipped. With ``--groups FILE`` the players are
the feature groups (and each modality's ungrouped columns, ``<modality>:rest``)
instead of the modalities, and each unit's summary lists its ``top_pairs``.
"""

from __future__ import annotations

import argparse

from ..interactions.aggregation import AGGREGATIONS
from ..interactions.maskers import MASKERS
from ..interactions.settings import DEFAULT_EXPLAIN


def register(sub: argparse._SubParsersAction) -> None:
    d = DEFAULT_EXPLAIN
    p = sub.add_parser("explain", help="InterSHAP of every finished model of a run directory",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="run directory (from intersurv train or audit)")
    p.add_argument("--out", metavar="DIR",
                   help="write the explanation here instead of into RUN_DIR (required for an audit's run)")
    p.add_argument("--masker", default=d.masker,
                   help=f"masker of the coalition game: {' | '.join(MASKERS)} (default {d.masker})")
    p.add_argument("--output", default=d.output,
                   help=f"scale explained: log_risk, risk, survival@<t> or rmst@<tau> (default {d.output})")
    p.add_argument("--aggregation", default=d.aggregation,
                   help=f"global InterSHAP aggregation: {' | '.join(AGGREGATIONS)} (default {d.aggregation})")
    p.add_argument("--background", type=int, default=d.background, metavar="K",
                   help=f"reference patients averaged by the marginal masker (default {d.background})")
    p.add_argument("--bootstrap", type=int, default=d.bootstrap, metavar="B",
                   help=f"bootstrap replicates over patients for the CIs (default {d.bootstrap}; 0 for none)")
    p.add_argument("--seed", type=int, default=0, help="seed of background draws and bootstrap (default 0)")
    p.add_argument("--batch-size", type=int, default=4096, help="model rows per forward pass (default 4096)")
    p.add_argument("--groups", metavar="FILE",
                   help="players are these feature groups instead of the modalities: a TOML ([groups]) or .gmt "
                        "file, or builtin:tcga-genes=GENE,... (intersurv.interactions.groups)")
    p.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from ..errors import IntersurvError
    from ..interactions import explain
    from ..interactions.groups import read_groups, resolve_players
    from ..interactions.settings import ExplainSettings
    from ..interactions.table import FILE_NAME, write_interactions
    from ..io.atomic import write_json_atomic
    from ..interactions.encoded import encoded_game
    from ..positions import positions
    from ..training.mil_fit import MILFittedModel
    from ..training.rundir import RunDir

    log = logging.getLogger("intersurv")
    run = RunDir(args.run)
    out = Path(args.out) if args.out else run.path
    if run.config.unit_step is not None and out.resolve() == run.path.resolve():
        raise IntersurvError(f"{run.path}: a run with a per-unit step ({run.config.unit_step}) whose units hold "
                             f"their own {FILE_NAME}; give --out DIR to write this explanation elsewhere")
    units = run.finished_units()
    if not units:
        raise IntersurvError(f"{run.path}: no finished units to explain")
    cohort = run.load_cohort()
    groups = read_groups(args.groups, cohort.feature_names) if args.groups else None
    settings = ExplainSettings(masker=args.masker, output=args.output, aggregation=args.aggregation,
                               background=args.background, bootstrap=args.bootstrap, groups=groups)
    players = resolve_players(groups, cohort.feature_names, cohort.widths(), source=args.groups or "modalities")
    settings.check_modalities(len(players))
    summary: dict = {key: getattr(settings, key) for key in ("masker", "output", "aggregation", "background",
                                                              "bootstrap", "groups")}
    summary.update(seed=args.seed, units={}, skipped={})
    for unit in units:
        model = unit.load_model()
        if len(model.modalities) < 2:
            summary["skipped"][unit.name] = f"one modality ({', '.join(model.modalities)})"
            continue
        pos = positions(cohort.ids, unit.split["test"], what=f"{unit.path / 'split.json'}: test patient")
        target, test, reference = model, cohort.subset(pos), None
        if isinstance(model, MILFittedModel):  # the bag as one player: the head over encoded bags
            train = cohort.subset(positions(cohort.ids, unit.split["train"],
                                            what=f"{unit.path / 'split.json'}: training patient"))
            target, test, reference = encoded_game(model, test, train, model.modalities)
        e = explain(target, test, reference=reference, masker=settings.masker, output=settings.output,
                    aggregation=settings.aggregation, background=settings.background,
                    bootstrap=settings.bootstrap, seed=args.seed, batch_size=args.batch_size, groups=groups)
        unit_out = out / unit.path.relative_to(run.path)
        unit_out.mkdir(parents=True, exist_ok=True)
        write_interactions(unit_out / FILE_NAME, e)
        summary["units"][unit.name] = {"arch": unit.arch, "seed": unit.seed, "fold": unit.fold, **e.summary()}
        if groups is not None:
            summary["units"][unit.name]["top_pairs"] = e.top_pairs()
        shares = ", ".join(f"{m} {100 * v:.1f} %" for m, v in e.shares().items())
        print(f"{unit.name:<32} InterSHAP {100 * e.score():5.1f} %  ({shares})")
    for name, why in summary["skipped"].items():
        log.info("skipped %s: %s", name, why)
    write_json_atomic(out / "explain_summary.json", summary)
    print(f"wrote {out / 'explain_summary.json'}")
    return 0
