"""Bags benchmark, the audit: time and peak memory of an audit with attention MIL beside the pooled audit.

Both audits run on the built-in ``glioma-bags`` (575 patients, 200-2,000 patches
of width 768 per patient, ~1.9 GB of bags on disk) with the same
configuration: the default architectures (``unimodal``, ``linear``, ``early``,
``late``, ``cross_attention``, ``bilinear``, ``gated``, ``kronecker``), one seed,
an 80/20 hold-out, the default training and explanation settings, one
process with two torch threads (the 2 cores):

* ``mil``: the cohort as it is; every network reads the WSI bags through an
  attention-MIL encoder (``docs/design.md``), the linear references the pooled vector;
* ``pooled``: the same cohort with the bags dropped (``wsi`` = its pooled mean
  vector, a 768-column table), i.e. the audit as it was before bags.

Each audit runs in its own child process; its peak resident memory is the
child's ``ru_maxrss`` (every page it ever had resident, file pages of the
bag files included). Prints a Markdown table with the ratio MIL / pooled.

Usage::

    PYTHONPATH=src python benchmarks/bags_audit.py --work /tmp/bags_audit
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run_audit_phase(kind: str, work: Path, source: str, train: dict) -> None:
    """One audit (``mil`` or ``pooled``) in this process; prints its figures as JSON."""
    import intersurv
    from intersurv.audit import audit_config, run_audit

    cohort = intersurv.load_cohort(source)
    if kind == "pooled":
        cohort = intersurv.Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=cohort.X,
                                  feature_names=cohort.feature_names, time_unit=cohort.time_unit, group=cohort.group,
                                  covariates=cohort.covariates, name=cohort.name)
    out = work / kind
    if out.exists():
        shutil.rmtree(out)
    cfg = audit_config({"cohort": "", "seeds": [0], "protocol": {"kind": "holdout", "test_fraction": 0.2},
                        "threads": 2, "train": train}, cohort.modality_names, n_patients=cohort.n_patients)
    start = time.perf_counter()
    results = run_audit(cfg, out, cohort=cohort)
    seconds = time.perf_counter() - start
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"kind": kind, "seconds": seconds, "peak_mib": peak, "units": len(cfg.unit_keys()),
                      "late_intershap": results["architectures"]["late"]["intershap"]["mean"],
                      "c": {a: r["c_index"]["mean"] for a, r in results["architectures"].items()}}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--cohort", default="glioma-bags", help="a built-in name or cohort directory with bags")
    ap.add_argument("--train", default="{}", help="[train] settings as JSON (default: the defaults)")
    ap.add_argument("--phase", choices=("mil", "pooled"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        run_audit_phase(args.phase, args.work, args.cohort, json.loads(args.train))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    rows = {}
    for kind in ("pooled", "mil"):
        done = subprocess.run([sys.executable, __file__, "--work", str(args.work), "--phase", kind,
                               "--cohort", args.cohort, "--train", args.train],
                              check=True, capture_output=True, text=True)
        rows[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(rows[kind]), flush=True)
    print("\n| audit | units | seconds | peak RSS MiB | late InterSHAP |\n|---|---|---|---|---|")
    for kind, r in rows.items():
        print(f"| {kind} | {r['units']} | {r['seconds']:.0f} | {r['peak_mib']:.0f} | {r['late_intershap']:.2e} |")
    print(f"\nratio MIL / pooled: time {rows['mil']['seconds'] / rows['pooled']['seconds']:.2f}, "
          f"peak memory {rows['mil']['peak_mib'] / rows['pooled']['peak_mib']:.2f}")


if __name__ == "__main__":
    main()
