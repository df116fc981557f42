"""``intersurv demo``: the main job on the built-in simulated cohort."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the audit on the built-in glioma-sim cohort")
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..datasets import load_cohort

    cohort = load_cohort("breast-cancer")
    print(cohort.summary())
    print("The audit is not implemented yet; this summary is all the demo does for now.")
    return 0
