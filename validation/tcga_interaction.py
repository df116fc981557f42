"""The cohort-level interaction answer on real TCGA-GBMLGG (issue 13).

    PYTHONPATH=src python validation/tcga_interaction.py ../shared/data/tcga/tcga_gbmlgg_all_clean.csv.zip

Builds the cohort by hand from the PORPOISE table (one row per ``case_id``, event = 1 - censorship,
time = survival_months, modalities ``rna`` / ``cnv`` / ``mut`` by column suffix, complete cases; the
project's importer is ``intersurv datasets import``) and prints
:func:`intersurv.interactions.additivity_test.cohort_interaction` with the audit's defaults as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from intersurv.cohort import Cohort
from intersurv.interactions.additivity_test import cohort_interaction

SUFFIXES = {"rnaseq": "rna", "cnv": "cnv", "mut": "mut"}


def load(path: str) -> Cohort:
    df = pd.read_csv(path).drop_duplicates("case_id")
    cols = {m: [c for c in df.columns if c.endswith("_" + suffix)] for suffix, m in SUFFIXES.items()}
    df = df.dropna(subset=["survival_months", "censorship", *sum(cols.values(), [])])
    df = df[df["survival_months"] > 0]
    return Cohort(ids=df["case_id"].to_numpy().astype(str), time=df["survival_months"].to_numpy(float),
                  event=(1 - df["censorship"]).to_numpy(int),
                  modalities={m: df[c].to_numpy(np.float32) for m, c in cols.items()}, name="tcga-gbmlgg")


def main(path: str) -> int:
    cohort = load(path)
    print(f"{cohort.n_patients} patients, {cohort.n_events} events, {cohort.widths()}", flush=True)
    start = time.perf_counter()
    result = cohort_interaction(cohort, seed=0)
    result["seconds"] = time.perf_counter() - start
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
