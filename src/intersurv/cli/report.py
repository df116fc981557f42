"""``intersurv report RUN``: rebuild report.html and the PNG figures from a run's saved files."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rebuild RUN/report.html and RUN/plots/ from saved results (no retraining)")
    p.add_argument("run", help="run directory written by `intersurv audit` (holds results.json)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from ..report import build_report, format_summary, load_results

    path = build_report(args.run)
    print(format_summary(load_results(args.run)))
    print(f"report: {path}")
    return 0
