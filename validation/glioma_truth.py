"""Does the measured interaction track the truth? The glioma-sim tables of docs/validation.md.

Reads the ``results.json`` of audits of simulated glioma-sim cohorts, one per interaction strength,
and prints per architecture the mean InterSHAP over the units with the mean test C-index in
brackets, beside the truth (the true log-risk explained like the models, ``results["truth"]``);
where the audits ran with ``--null-refits``, a second table with the excess InterSHAP over the
additive null (mean ± SD over the units). The audits themselves (defaults but for the options
shown; 5 seeds, 80/20 hold-out)::

    intersurv simulate --scenario glioma --param interaction=I --out /tmp/g_I
    intersurv audit --cohort /tmp/g_I --seeds 5 --holdout 0.2 \
        --arch unimodal,early,late,cross_attention,bilinear,gated,kronecker --null-refits 10 --out /tmp/audit_I
    python validation/glioma_truth.py 0=/tmp/audit_0 0.15=/tmp/audit_0.15 0.3=/tmp/audit_0.3
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FUSION = ("early", "late", "cross_attention", "bilinear", "gated", "kronecker")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def tables(runs: dict[str, Path]) -> str:
    results = {i: json.loads((d / "results.json").read_text()) for i, d in runs.items()}
    head = "| `interaction` | truth | " + " | ".join(FUSION) + " |"
    rule = "|---|---|" + "---|" * len(FUSION)
    lines = ["InterSHAP per architecture (mean over units; mean test C-index in brackets):", "", head, rule]
    for i, r in results.items():
        arch = r["architectures"]
        cells = [f"{pct(arch[a]['intershap']['mean'])} ({arch[a]['c_index']['mean']:.3f})" for a in FUSION]
        lines.append(f"| {i} | {pct(r['truth']['intershap'])} | " + " | ".join(cells) + " |")
    uni = sorted(a for a in next(iter(results.values()))["architectures"] if a.startswith("unimodal:"))
    lines += ["", "Mean test C-index of the unimodal networks: " + "; ".join(
        f"interaction {i}: " + ", ".join(f"{a} {r['architectures'][a]['c_index']['mean']:.3f}" for a in uni)
        for i, r in results.items()) + "."]
    if all(r["architectures"]["early"].get("additive_null") for r in results.values()):
        lines += ["", "Excess InterSHAP over the additive null (percentage points, mean ± SD over units; in "
                  "brackets the null's own InterSHAP):", "", head, rule]
        for i, r in results.items():
            cells = []
            for a in FUSION:
                null = r["architectures"][a]["additive_null"]
                ex = null["excess"]
                cells.append(f"{100 * ex['mean']:+.1f} ± {100 * (ex['sd'] or 0.0):.1f} "
                             f"({pct(null['intershap']['mean'])})")
            lines.append(f"| {i} | {pct(r['truth']['intershap'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if not argv or not all("=" in a for a in argv):
        raise SystemExit(__doc__)
    print(tables({a.split("=", 1)[0]: Path(a.split("=", 1)[1]) for a in argv}))


if __name__ == "__main__":
    main(sys.argv[1:])
