"""``intersurv datasets list | check DIR | export NAME DIR | import FILE --out DIR``."""

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
    q.add_argument("--allow-missing", action="store_true",
                   help="keep patients missing from a modality (counted in the summary)")
    q.set_defaults(func=_check)

    q = dsub.add_parser("export", help="write a built-in cohort as a cohort directory")
    q.add_argument("name", help="built-in cohort name")
    q.add_argument("out", help="output directory")
    q.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="modality table format (default parquet)")
    q.add_argument("--force", action="store_true", help="write into a non-empty directory (overwriting files)")
    q.set_defaults(func=_export)

    q = dsub.add_parser("import", help="turn a TCGA table of the MCAT/PORPOISE/SurvPath layout into a cohort directory")
    q.add_argument("file", help="CSV, or zip of one CSV: one row per slide, case_id, survival_months, censorship, "
                                "<GENE>_rnaseq/_cnv/_mut feature columns")
    q.add_argument("--out", required=True, help="new cohort directory to write")
    add_table_import_options(q)
    q.add_argument("--name", help="cohort name (default: the file name)")
    q.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="modality table format")
    q.set_defaults(func=_import)


def add_table_import_options(q: argparse.ArgumentParser) -> None:
    """The options of importing a TCGA-layout table (``datasets import``, ``study``)."""
    q.add_argument("--clinical", help="CSV joined by case_id for further covariates (numeric, or WHO grade G2/G3/G4)")
    q.add_argument("--modality-suffix", action="append", default=[], metavar="SUFFIX=NAME",
                   help="name the modality of a column suffix (default rnaseq=rna, cnv=cnv, mut=mut); repeatable")
    q.add_argument("--missing-covariates", choices=["impute", "drop", "error"],
                   help="a patient without a covariate value (age, is_female, a --clinical column): impute it "
                        "(default: median of the other patients, more frequent value of a 0/1 column; "
                        "reported and recorded in cohort.toml), drop the patient, or stop with an error")
    q.add_argument("--drop-incomplete", action="store_true", help="the same as --missing-covariates drop")
    q.add_argument("--covariates-as-modality", metavar="NAME",
                   help="also use the covariates as a modality of that name (e.g. clinical: then the fusion "
                        "models use them and the 'clinical' reference model is audited)")


def _list(args: argparse.Namespace) -> int:
    from ..datasets import list_datasets

    for d in list_datasets():
        print(f"{d.name:<16} {d.description}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..datasets import load_cohort

    from pathlib import Path

    from ..datasets import resolve_cohort_source
    from ..io.cohort_dir import imputed_covariates
    from ..io.tcga_table import imputed_lines

    cohort = load_cohort(args.cohort, drop_incomplete=args.drop_incomplete, allow_missing=args.allow_missing)
    print(cohort.summary())
    source = resolve_cohort_source(args.cohort)
    for line in imputed_lines(imputed_covariates(source)) if Path(source).is_dir() else []:
        print(line)
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


def _import(args: argparse.Namespace) -> int:
    from ..errors import IntersurvError
    from ..io.tcga_table import import_tcga_table, write_new_cohort_dir
    from ..study.cohorts import parse_suffixes

    suffixes = parse_suffixes(args.modality_suffix, "--modality-suffix")
    if args.drop_incomplete and args.missing_covariates not in (None, "drop"):
        raise IntersurvError(f"--drop-incomplete (= --missing-covariates drop) contradicts --missing-covariates "
                             f"{args.missing_covariates}")
    report = import_tcga_table(args.file, clinical=args.clinical, suffixes=suffixes, name=args.name,
                               missing_covariates=args.missing_covariates or "impute",
                               drop_incomplete=args.drop_incomplete)
    path = write_new_cohort_dir(report.cohort, args.out, table_format=args.format,
                                covariates_as_modality=args.covariates_as_modality, imputed=report.imputed)
    for line in report.lines():
        print(line)
    print(f"wrote {path}")
    return 0
