"""``intersurv simulate --scenario S --n N --seed K --out DIR [--param key=value ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="write a simulated cohort with a known answer (truth.json)")
    p.add_argument("--scenario", default="glioma",
                   help="glioma (default), glioma3, additive, uniqueness, synergy, redundancy, shared_binary or "
                        "glioma-bags (WSI as bags of patch features, written into --out)")
    p.add_argument("--n", type=int, default=575, help="number of patients (default 575)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output cohort directory")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="scenario parameter, e.g. interaction=0.3 or rna_genes=12778 (repeatable)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="modality table format (default parquet)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out (overwriting files)")
    p.set_defaults(func=_simulate)


def _parse_params(items: list[str]) -> dict[str, str]:
    from ..errors import IntersurvError

    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise IntersurvError(f"--param {item!r}: expected KEY=VALUE, e.g. interaction=0.3")
        params[key.strip()] = value.strip()
    return params


def _simulate(args: argparse.Namespace) -> int:
    from ..datasets.simulate import simulate
    from ..io.cohort_dir import write_cohort_dir
    from ..io.outdir import refuse_non_empty

    refuse_non_empty(args.out, force=args.force)
    bag_dir = str(Path(args.out) / "wsi.bags") if args.scenario == "glioma-bags" else None  # no second copy
    cohort = simulate(args.scenario, n=args.n, seed=args.seed, bag_dir=bag_dir, **_parse_params(args.param))
    path = write_cohort_dir(cohort, args.out, table_format=args.format)
    truth = cohort.truth["interaction"]["mean"]["intershap"]["abs"]
    print(cohort.summary())
    print(f"true InterSHAP (mean masker, abs, log_risk): {100.0 * truth:.1f} %")
    print(f"wrote {cohort.name} with truth.json to {path}")
    return 0
