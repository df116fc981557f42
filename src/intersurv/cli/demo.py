"""``intersurv demo``: the audit on the built-in simulated glioma cohort.

A protocol in the spirit of the glioma study, sized for a laptop: 80/20
hold-out over 3 seeds (the audit's default for a cohort of this size is 5-fold
CV per seed, five times the trainings), the unimodal baselines and every fusion architecture,
mean masker on the log-risk scale, and an additive null of 5 refits per
fusion model (how much interaction each architecture shows on this cohort
when the outcomes have none; ``--null-refits 0`` skips it). The cohort's
ground truth is reported beside the measured interaction.
"""

from __future__ import annotations

import argparse

from .audit import add_audit_options, resolve_audit, run_and_print

DEMO = {"cohort": "glioma-sim", "seeds": [0, 1, 2], "protocol": {"kind": "holdout", "test_fraction": 0.2},
        "explain": {"null_refits": 5}}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the audit on the built-in glioma-sim cohort",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    add_audit_options(p, seeds_default="3 (seeds 0-2)")
    p.set_defaults(func=_demo, cohort=None)


def _demo(args: argparse.Namespace) -> int:
    config, cohort = resolve_audit(args, base=DEMO)
    return run_and_print(args, config, cohort)
