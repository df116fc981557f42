"""``intersurv audit``: compare fusion architectures by discrimination, calibration and interaction.

Trains every architecture over seeds and folds, evaluates the test patients
once, explains each model (InterSHAP, the reference set being its training
patients), analyses whether per-patient interaction is prognostic, and writes
``RUN/results.json``, ``RUN/patients.csv`` and ``RUN/report.html``. Re-running
the same command resumes. See ``intersurv.audit.config`` for the TOML keys.
"""

from __future__ import annotations

import argparse

from ..audit.config import CV_DEFAULT_FOLDS, CV_MAX_PATIENTS, DEFAULT_ARCHITECTURES
from ..interactions.settings import DEFAULT_EXPLAIN
from ..training.config import ProtocolConfig
from ..training.settings import DEFAULT_TRAIN
from .train import add_executor_options


def add_audit_options(p: argparse.ArgumentParser, seeds_default: str = "5 (seeds 0-4)") -> None:
    """Options shared by ``audit`` and ``demo`` (whose seeds default differs)."""
    p.add_argument("--config", help="TOML file with the audit configuration")
    p.add_argument("--arch", help="architectures, comma-separated ('unimodal', 'linear' = one per modality; "
                                  "'clinical' = linear Cox on the covariates, on by default when the cohort has numeric ones; default "
                                  f"{', '.join(DEFAULT_ARCHITECTURES)})")
    p.add_argument("--seeds", help=f"a count (3 = seeds 0,1,2) or a comma list (0,5,7); default {seeds_default}")
    proto = p.add_mutually_exclusive_group()
    proto.add_argument("--folds", type=int, help=f"k-fold cross-validation per seed (default: {CV_DEFAULT_FOLDS}-fold "
                                                 f"CV for cohorts of up to {CV_MAX_PATIENTS:,} patients, else "
                                                 f"--holdout {ProtocolConfig().test_fraction:g})")
    proto.add_argument("--holdout", type=float, metavar="FRACTION",
                       help=f"hold-out test fraction per seed (default {ProtocolConfig().test_fraction:g} "
                            "when the protocol is a hold-out)")
    d = DEFAULT_EXPLAIN
    p.add_argument("--masker", help=f"mean | zero | marginal | shuffle (default {d.masker})")
    p.add_argument("--output", help=f"log_risk | risk | survival@T | rmst@TAU (default {d.output})")
    p.add_argument("--aggregation", help=f"abs | paper | local_mean | swift2026 (default {d.aggregation})")
    p.add_argument("--null-refits", type=int, metavar="R",
                   help="refit every fusion model R times on outcomes without interaction and report its "
                        f"InterSHAP beyond that additive null (default {d.null_refits}: off; costs R trainings "
                        "per unit)")
    p.add_argument("--groups", metavar="FILE",
                   help="also explain feature groups as players: a TOML ([groups] name = [\"rna:TP53\", ...]) or "
                        ".gmt file, or builtin:tcga-genes=GENE,GENE,... (one group per gene across modalities); "
                        "default: modalities only")
    p.add_argument("--groups-test", metavar="A,B",
                   help="cohort-level test of no interaction between the columns of two players of --groups")
    p.add_argument("--max-epochs", type=int,
                   help=f"maximum training epochs (default {DEFAULT_TRAIN.max_epochs})")
    p.add_argument("--allow-missing", action="store_true",
                   help="keep patients who lack a modality (imputed by the training mean; see the report)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other keyword argument of intersurv.fit (repeatable)")
    p.add_argument("--jobs", type=int, default=1,
                   help="units run in parallel processes (default 1; results do not depend on it)")
    add_executor_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="train, evaluate and explain fusion architectures; write the report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", help="built-in cohort name or cohort directory")
    p.add_argument("--out", required=True, help="run directory")
    add_audit_options(p)
    p.set_defaults(func=_audit)


def audit_options(args: argparse.Namespace, base: dict | None = None,
                  required: tuple[str, ...] = ("cohort",)) -> dict:
    """The audit's config dict (TOML-shaped) from ``base``, --config and the options."""
    from .train import resolve_options

    data = resolve_options(args, base, default_seeds=None, required=required)
    explain = dict(data.get("explain", {}))
    for key in ("masker", "output", "aggregation", "null_refits", "groups"):
        if getattr(args, key, None) is not None:
            explain[key] = getattr(args, key)
    if getattr(args, "groups_test", None):
        explain["group_test"] = [g.strip() for g in args.groups_test.split(",")]
    data["explain"] = explain
    return data


def resolve_audit(args: argparse.Namespace, base: dict | None = None):  # type: ignore[no-untyped-def]
    """The audit's ExperimentConfig and cohort from defaults, ``base``, --config and the options."""
    from ..audit.config import cohort_audit_config
    from .train import load_options_cohort

    data = audit_options(args, base)
    cohort = load_options_cohort(data, args.out)
    if data.get("modalities"):
        cohort = cohort.select_modalities(list(data["modalities"]))
    return cohort_audit_config(data, cohort, source=args.config or "options"), cohort


def run_and_print(args: argparse.Namespace, config, cohort) -> int:  # type: ignore[no-untyped-def]
    import time
    from pathlib import Path

    from ..audit import run_audit
    from ..report import format_summary
    from ..report.groups import format_groups

    started = time.perf_counter()
    results = run_audit(config, args.out, cohort=cohort, jobs=args.jobs, executor=args.executor,
                        address=args.address)
    print(format_summary(results))
    if format_groups(results):
        print("\n" + format_groups(results))
    print(f"\nreport: {Path(args.out) / 'report.html'}   results: {Path(args.out) / 'results.json'}   "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


def _audit(args: argparse.Namespace) -> int:
    config, cohort = resolve_audit(args)
    return run_and_print(args, config, cohort)
