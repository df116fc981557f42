"""``intersurv report RUN``: rebuild report.html and the PNG figures from a run's saved files.

On a study directory (``intersurv study``; it holds study.json) it recomputes study.json and
study.html from each cohort's results.json.
"""

from __future__ import annotations

import argparse

from ..report.thumbnails import PATCH_SIZE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rebuild RUN/report.html and RUN/plots/ from saved results (no retraining)")
    p.add_argument("run", help="run directory written by `intersurv audit` (holds results.json), or a study "
                               "directory of `intersurv study` (holds study.json)")
    p.add_argument("--slides", metavar="DIR",
                   help="directory of the slide files: the report shows thumbnails of the most-attended patches "
                        "of attention-MIL models (a slide is found by its name, as the bags name it)")
    p.add_argument("--patch-size-level0", type=int, default=PATCH_SIZE, metavar="PX",
                   help=f"side of a patch in level-0 pixels, for the thumbnails (default {PATCH_SIZE})")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..report import build_report, format_summary, load_results

    if (Path(args.run) / "study.json").is_file():
        from ..study.run import rebuild_study

        rebuild_study(args.run)
        print(f"report: {Path(args.run) / 'study.html'}")
        return 0

    path = build_report(args.run, args.slides, args.patch_size_level0)
    print(format_summary(load_results(args.run)))
    print(f"report: {path}")
    return 0
