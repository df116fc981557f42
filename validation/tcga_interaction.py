"""The cohort-level interaction answer on real TCGA-GBMLGG (issue 13).

    PYTHONPATH=src python validation/tcga_interaction.py ../shared/data/tcga/tcga_gbmlgg_all_clean.csv.zip

Imports the PORPOISE table as ``intersurv datasets import`` does
(:func:`intersurv.io.tcga_table.import_tcga_table`: one row per ``case_id``, modalities ``rna`` /
``cnv`` / ``mut`` by column suffix) and prints
:func:`intersurv.interactions.additivity_test.cohort_interaction` with the audit's defaults as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from intersurv.interactions.additivity_test import cohort_interaction
from intersurv.io.tcga_table import import_tcga_table


def main(path: str) -> int:
    cohort = import_tcga_table(path, name="tcga-gbmlgg").cohort
    print(f"{cohort.n_patients} patients, {cohort.n_events} events, {cohort.widths()}", flush=True)
    start = time.perf_counter()
    result = cohort_interaction(cohort, seed=0)
    result["seconds"] = time.perf_counter() - start
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
