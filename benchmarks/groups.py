"""Section 8 of ``make bench``: explaining 8 feature groups against the floor of its forward passes.

Issue 23: "explaining 8 groups costs no more than 1.5 x the floor of the
required forward passes". An early-fusion MLP on three modalities is explained
with 8 feature groups as players (groups inside one modality and groups
spanning two; they cover every column, so there are exactly 8 players and
2^8 = 256 coalitions). The floor is the bare model (the MLP on pre-built
tensors, torch no_grad) over exactly the rows the engine evaluates, in the
engine's batches; the engine's extra cost is building the masked inputs
column by column and the model's own concatenation. Engine and floor are
timed in turn within each repeat (median of ``repeats``, after a warm-up).
On a shared machine the floor and the engine run minutes apart and their
ratio moves with the load, so the engine's time inside its own model calls
is also measured within each engine run (a timer around every call): the
last column, engine / time in its model calls, is the engine's overhead
free of that noise.

Run alone with ``python benchmarks/groups.py [--quick]`` (prints the table),
or as part of ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_all import LogRisk, cohort_arrays, engine_batches, median_times, mlp, table  # noqa: E402

from intersurv.interactions import explain  # noqa: E402

HEADERS = ["masker", "players", "N", "K", "model rows", "engine s", "floor s", "engine/floor",
           "engine s in model calls", "engine/its model calls"]
DESCRIPTION = ("Early-fusion MLP {mlp} on three modalities ({widths} features), explained with 8 feature groups "
               "(2^8 = 256 coalitions; groups inside a modality and across two, covering every column). Floor: the "
               "bare MLP on pre-built tensors over exactly the rows the engine evaluates, in its batches. Engine "
               "and floor timed in turn within each repeat, median of {repeats}; the last two columns time the "
               "engine's own model calls inside each engine run (median), which the machine's load does not "
               "separate from the engine. Goal (issue 23): engine/floor <= 1.5.")


class TimedModel:
    """The model with a timer around each call: ``seconds`` accumulates the time spent inside it."""

    def __init__(self, model: LogRisk) -> None:
        self.model, self.modalities, self.seconds = model, model.modalities, 0.0

    def __call__(self, X: dict[str, np.ndarray]) -> np.ndarray:
        start = time.perf_counter()
        out = self.model(X)
        self.seconds += time.perf_counter() - start
        return out


def eight_groups(widths: list[int]) -> dict[str, list[str]]:
    """8 groups over modalities m0, m1, m2 covering every column: three slices of m0 and of m1, one group
    of m2's first half with m0's last columns, one of m2's second half (column names are indices)."""
    cols = {f"m{i}": [str(j) for j in range(w)] for i, w in enumerate(widths)}
    m0, m1, m2 = (np.array_split(np.array(cols[m]), 3) for m in ("m0", "m1", "m2"))
    return {
        "a1": [f"m0:{c}" for c in m0[0]], "a2": [f"m0:{c}" for c in m0[1]],
        "b1": [f"m1:{c}" for c in m1[0]], "b2": [f"m1:{c}" for c in m1[1]], "b3": [f"m1:{c}" for c in m1[2]],
        "ac": [f"m0:{c}" for c in m0[2]] + [f"m2:{c}" for c in m2[0]],
        "c2": [f"m2:{c}" for c in m2[1]], "c3": [f"m2:{c}" for c in m2[2]],
    }


def group_rows(quick: bool = False) -> list[list[Any]]:
    """One row per case: engine and floor times of the 8-group explanation."""
    width, hidden, repeats = (48, (16,), 1) if quick else (1024, (256,), 5)
    cases = [("mean", 40 if quick else 575, 1), ("marginal", 10 if quick else 40, 4 if quick else 20)]
    widths = [len(a) for a in np.array_split(np.arange(width), 3)]
    groups = eight_groups(widths)
    rows = []
    for masker, n, k in cases:
        X = cohort_arrays(n, widths)
        model = LogRisk(mlp(width, hidden), list(X))
        batches = engine_batches(n, len(groups), k)
        x = torch.randn(max(batches), width)

        timed = TimedModel(model)
        inside: list[float] = []
        totals: list[float] = []

        def run_engine() -> Any:
            timed.seconds = 0.0
            start = time.perf_counter()
            out = explain(timed, X, reference=X, masker=masker, background=k, seed=0, groups=groups)
            totals.append(time.perf_counter() - start)
            inside.append(timed.seconds)
            return out

        assert run_engine().players == list(groups)
        t = median_times({"engine": run_engine, "floor": lambda: [model.tensor(x[:b]) for b in batches]}, repeats)
        own = float(np.median(np.array(totals[2:]) / np.array(inside[2:])))  # the timed runs, not the warm-ups
        rows.append([masker, len(groups), n, k, sum(batches), t["engine"], t["floor"], t["engine"] / t["floor"],
                     float(np.median(inside[2:])), own])
    return rows


def description(quick: bool = False) -> str:
    width, hidden, repeats = (48, (16,), 1) if quick else (1024, (256,), 5)
    widths = [len(a) for a in np.array_split(np.arange(width), 3)]
    return DESCRIPTION.format(mlp=" -> ".join(map(str, (width, *hidden, 1))), widths=" + ".join(map(str, widths)),
                              repeats=repeats)


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    print(description(quick) + "\n\n" + table(HEADERS, group_rows(quick)))
