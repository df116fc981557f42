"""The three shared TCGA tables in one ``intersurv study`` (issue 22), and its answers as markdown.

    PYTHONPATH=src python validation/tcga_study.py DATA_DIR STUDY_DIR [--seeds 0,1,2,3,4] [--jobs 2] [--rebuild]

Runs (or resumes) ``intersurv study --cohorts DATA_DIR/tcga_{gbmlgg,brca,coadread}_all_clean.csv.zip
--jobs J --out STUDY_DIR`` with every other option the audit's default (``--seeds`` only when given)
and prints, from ``STUDY_DIR/study.json``, the per-cohort answers (each verdict by its own interval,
then after Holm's adjustment) and the pooled ΔC with I² (the tables in docs/validation.md) and the
wall time of this invocation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from intersurv.cli import main as intersurv
from intersurv.report.comparisons import fmt_delta
from intersurv.report.tables import fmt, fmt_p, fmt_pct

TABLES = ("tcga_gbmlgg_all_clean.csv.zip", "tcga_brca_all_clean.csv.zip", "tcga_coadread_all_clean.csv.zip")


def markdown(study: dict) -> str:
    """The per-cohort and pooled tables of a study.json."""
    refs = ("late", "clinical", "best_unimodal")
    lines = ["| cohort | patients | events | best fusion (mean C) | ΔC vs late | ΔC vs clinical | "
             "ΔC vs best unimodal | interaction p | estimate | min. detectable |", "|---" * 10 + "|"]
    for row in study["cohorts"]:
        best = row["best"] or {}
        versus = best.get("versus") or {}
        cells = [f"{fmt_delta(versus[r]['delta_c'], versus[r]['ci'])} {versus[r]['verdict']}"
                 + (f" (Holm: {versus[r]['verdict_adjusted']})" if versus[r]["verdict_adjusted"] != versus[r]["verdict"]
                    else "")
                 + (f" ({versus[r]['ref_arch']})" if r == "best_unimodal" else "") if r in versus else "–"
                 for r in refs]
        test = row["interaction"] or {}
        lines.append(f"| {row['name']} | {row['n_patients']} | {row['n_events']} | "
                     f"{best.get('arch', '–')} ({fmt(best.get('c_index'))}) | " + " | ".join(cells)
                     + f" | {fmt_p(test.get('p_value'))} | {fmt_pct(test.get('estimate'))} | "
                       f"{fmt_pct(test.get('minimum_detectable'))} |")
    lines += ["", "| reference | architecture | pooled ΔC [95 % CI] | p | τ² | I² | Q (df) |", "|---" * 7 + "|"]
    for ref, by_arch in study["pooled"].items():
        for arch, p in by_arch.items():
            if "estimate" not in p:
                lines.append(f"| {ref} | {arch} | not pooled: {p['skipped']} | | | | |")
                continue
            lines.append(f"| {ref} | {arch} | {fmt_delta(p['estimate'], p['ci'])} | {fmt_p(p['p_value'])} | "
                         f"{p['tau2']:.1e} | {fmt_pct(p['i2'], 0)} | {p['q']:.2f} ({p['q_df']}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="directory with the three TCGA tables")
    p.add_argument("out", help="study directory (resumed if it exists)")
    p.add_argument("--seeds", help="seeds of the audit (default: the audit's, 0-4)")
    p.add_argument("--jobs", default="2")
    p.add_argument("--rebuild", action="store_true",
                   help="train nothing: rebuild study.json from the finished cohorts (intersurv report STUDY_DIR), "
                        "e.g. after a change to the pooling, and print the tables")
    args = p.parse_args(argv)
    started = time.perf_counter()
    code = (intersurv(["report", args.out]) if args.rebuild else
            intersurv(["study", "--cohorts", *(str(Path(args.data) / t) for t in TABLES), "--jobs", args.jobs,
                       *(["--seeds", args.seeds] if args.seeds else []), "--out", args.out]))
    if code:
        return code
    print(f"\nwall time of this invocation: {time.perf_counter() - started:.0f} s\n")
    print(markdown(json.loads((Path(args.out) / "study.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
