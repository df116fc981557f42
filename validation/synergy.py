"""Validation study of the cohort-level synergy vs redundancy split (issue 23), on simulated cohorts whose
kind of interaction is known by construction.

    PYTHONPATH=src python validation/synergy.py --cohorts 100 --start 0 --count 25 --out DIR
    PYTHONPATH=src python validation/synergy.py --cohorts 100 --tables-only --out DIR

Runs the cohort-level test and estimate (:func:`intersurv.interactions.additivity_test.cohort_interaction`,
its synergy split included) on ``--cohorts`` cohorts (n = 575, seeds as in
``validation/interaction_test.py``) of each scenario: ``synergy`` (pure XOR-like interaction),
``shared_binary`` (noisy views of one shared binary factor: redundancy), ``additive`` and ``glioma``
(interaction 0.15). ``--start``/``--count`` run replicates ``start .. start + count - 1`` of every scenario
(pieces of at most ~15 minutes); each piece appends its rows to ``DIR/synergy.jsonl``. The table
(Clopper-Pearson 95 % intervals) goes to ``DIR/synergy.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd
from interaction_test import rate, simulate_cohort  # validation/interaction_test.py (same directory)

#: (scenario, interaction parameter or None for the scenario's own log-risk)
CELLS = (("synergy", None), ("shared_binary", None), ("additive", None), ("glioma", 0.15))
#: Bootstrap draws of the test and refits of the CI: the audit's own (cohort_interaction's defaults).
NULL_REPLICATES, CI_REPLICATES = 199, 100


def job(scenario: str, interaction: float | None, rep: int) -> dict:
    from intersurv.interactions.additivity_test import cohort_interaction

    cohort = simulate_cohort(scenario, interaction, rep)
    start = time.process_time()
    r = cohort_interaction(cohort, null_replicates=NULL_REPLICATES, ci_replicates=CI_REPLICATES,
                           planted_replicates=0, seed=rep)
    truth = cohort.truth["interaction"]["mean"]
    syn = r["synergy"]
    return {"scenario": scenario, "rep": rep, "p_value": r["p_value"], "estimate": r["estimate"],
            "truth_intershap": truth["intershap"]["abs"],
            "truth_synergy_share": truth["synergy"]["overall"]["synergy_share"],
            "model_synergy_share": syn["model"]["overall"]["synergy_share"],
            "synergy_estimate": syn["estimate"], "synergy_low": syn["ci"][0], "synergy_high": syn["ci"][1],
            "cpu_seconds": time.process_time() - start}


def tables(df: pd.DataFrame) -> str:
    lines = ["| scenario | cohorts | truth: synergy share (mean) | test rejects | among rejections: synergy > "
             "redundancy | redundancy > synergy | CI above 1/2 | CI below 1/2 | synergy share, estimate (mean) "
             "| raw product model (mean) | CPU s / cohort |", "|---|" + "---|" * 10]
    for scen, _ in CELLS:
        g = df[df["scenario"] == scen]
        if not len(g):
            continue
        rej = g[g["p_value"] <= 0.05]
        truth = g["truth_synergy_share"].mean()
        row = [scen, str(len(g)), "–" if pd.isna(truth) else f"{100 * truth:.1f} %", rate(g["p_value"] <= 0.05)]
        if len(rej):
            row += [rate(rej["synergy_estimate"] > 0.5), rate(rej["synergy_estimate"] < 0.5),
                    rate(rej["synergy_low"] > 0.5), rate(rej["synergy_high"] < 0.5),
                    f"{100 * rej['synergy_estimate'].mean():.1f} %", f"{100 * rej['model_synergy_share'].mean():.1f} %"]
        else:
            row += ["–"] * 6
        row.append(f"{g['cpu_seconds'].mean():.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cohorts", type=int, default=100, help="cohorts per scenario (for the table)")
    ap.add_argument("--start", type=int, default=0, help="first replicate of this piece")
    ap.add_argument("--count", type=int, default=None, help="replicates in this piece (default: all)")
    ap.add_argument("--tables-only", action="store_true", help="rebuild the table from DIR/synergy.jsonl")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "synergy.jsonl"
    if not args.tables_only:
        stop = args.cohorts if args.count is None else min(args.cohorts, args.start + args.count)
        with log.open("a") as sink:  # replicate-major: a piece stopped early still has every scenario
            for rep in range(args.start, stop):
                for scenario, interaction in CELLS:
                    sink.write(json.dumps(job(scenario, interaction, rep)) + "\n")
                    sink.flush()
    df = pd.read_json(log, lines=True, precise_float=True).drop_duplicates(["scenario", "rep"], keep="last")
    df = df[df["rep"] < args.cohorts]
    text = (f"```\nPYTHONPATH=src python validation/synergy.py --cohorts {args.cohorts} --start S --count C "
            f"--out DIR\n```\n\n{dt.date.today().isoformat()}; {NULL_REPLICATES} bootstrap draws and "
            f"{CI_REPLICATES} CI refits per cohort, as in the audit.\n\n{tables(df)}\n")
    (args.out / "synergy.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
