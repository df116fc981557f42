"""``intersurv datasets list | check DIR | export NAME DIR``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list, check and export cohorts")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)

    q = dsub.add_parser("list", help="list the built-in cohorts")
    q.set_defaults(func=_list)

    q = dsub.add_parser("check", help="validate a cohort (directory or built-in name) and summarise it")
    q.add_argument("cohort", help="cohort directory or built-in name")
    q.add_argument("--drop-incomplete", action="store_true",
                   help="drop patients missing from a modality instead of failing")
    q.set_defaults(func=_check)

    q = dsub.add_parser("export", help="write a built-in cohort as a cohort directory")
    q.add_argument("name", help="built-in cohort name")
    q.add_argument("out", help="output directory")
    q.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="modality table format (default parquet)")
    q.add_argument("--force", action="store_true", help="write into a non-empty directory (overwriting files)")
    q.set_defaults(func=_export)


def _list(args: argparse.Namespace) -> int:
    from ..datasets import list_datasets

    for d in list_datasets():
        print(f"{d.name:<16} {d.description}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..datasets import load_cohort

    cohort = load_cohort(args.cohort, drop_incomplete=args.drop_incomplete)
    print(cohort.summary())
    print("ok")
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..datasets import BUILTINS, load_cohort
    from ..errors import IntersurvError
    from ..io.cohort_dir import write_cohort_dir
    from ..io.outdir import refuse_non_empty

    if args.name not in BUILTINS:
        raise IntersurvError(f"{args.name}: no such built-in cohort (built-ins: {', '.join(BUILTINS)})")
    refuse_non_empty(args.out, force=args.force)
    path = write_cohort_dir(load_cohort(args.name), args.out, table_format=args.format)
    print(f"wrote {args.name} to {path}")
    return 0
