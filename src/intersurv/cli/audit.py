"""``intersurv audit``: compare fusion architectures by discrimination, calibration and interaction.

Trains every architecture over seeds and folds, evaluates the test patients
once, explains each model (InterSHAP, the reference set being its training
patients), analyses whether per-patient interaction is prognostic, and writes
``RUN/results.json``, ``RUN/patients.csv`` and ``RUN/report.html``. Re-running
the same command resumes. See ``intersurv.audit.config`` for the TOML keys.
"""

from __future__ import annotations

import argparse

from .train import add_executor_options


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``audit`` and ``demo``."""
    p.add_argument("--config", help="TOML file with the audit configuration")
    p.add_argument("--arch", help="architectures, comma-separated ('unimodal' = one per modality)")
    p.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a comma list (0,5,7)")
    proto = p.add_mutually_exclusive_group()
    proto.add_argument("--folds", type=int, help="k-fold cross-validation per seed")
    proto.add_argument("--holdout", type=float, metavar="FRACTION", help="hold-out test fraction per seed")
    p.add_argument("--masker", help="mean | zero | marginal | shuffle (default mean)")
    p.add_argument("--output", help="log_risk | risk | survival@T | rmst@TAU (default log_risk)")
    p.add_argument("--aggregation", help="abs | paper | local_mean | swift2026 (default abs)")
    p.add_argument("--null-refits", type=int, metavar="R",
                   help="refit every fusion model R times on outcomes without interaction and report its "
                        "InterSHAP beyond that additive null (default 0: off; costs R trainings per unit)")
    p.add_argument("--max-epochs", type=int, help="maximum training epochs")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other keyword argument of intersurv.fit (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="units run in parallel processes (results do not depend on it)")
    add_executor_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="train, evaluate and explain fusion architectures; write the report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", help="built-in cohort name or cohort directory")
    p.add_argument("--out", required=True, help="run directory")
    add_audit_options(p)
    p.set_defaults(func=_audit)


def resolve_audit(args: argparse.Namespace, base: dict | None = None):  # type: ignore[no-untyped-def]
    """The audit's ExperimentConfig and cohort from defaults, ``base``, --config and the options."""
    from ..audit.config import audit_config
    from ..datasets import load_cohort
    from ..training.rundir import resolve_cohort_source
    from .train import resolve_options

    data = resolve_options(args, base, default_seeds=None, required=("cohort",))
    explain = dict(data.get("explain", {}))
    for key in ("masker", "output", "aggregation", "null_refits"):
        if getattr(args, key, None) is not None:
            explain[key] = getattr(args, key)
    data["explain"] = explain
    data["cohort"] = resolve_cohort_source(str(data["cohort"]))
    cohort = load_cohort(data["cohort"], drop_incomplete=bool(data.get("drop_incomplete", False)))
    if data.get("modalities"):
        cohort = cohort.select_modalities(list(data["modalities"]))
    return audit_config(data, cohort.modality_names, source=args.config or "options"), cohort


def run_and_print(args: argparse.Namespace, config, cohort) -> int:  # type: ignore[no-untyped-def]
    import time
    from pathlib import Path

    from ..audit import run_audit
    from ..report import format_main_table

    started = time.perf_counter()
    results = run_audit(config, args.out, cohort=cohort, jobs=args.jobs, executor=args.executor,
                        address=args.address)
    print(format_main_table(results))
    print(f"\nreport: {Path(args.out) / 'report.html'}   results: {Path(args.out) / 'results.json'}   "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


def _audit(args: argparse.Namespace) -> int:
    config, cohort = resolve_audit(args)
    return run_and_print(args, config, cohort)
