"""``intersurv study``: one audit configuration over several cohorts, one pool of units, one combined report.

Cohorts (``--cohorts``, or ``cohorts`` in the ``--config`` TOML) are cohort
directories, built-in names, or tables in the TCGA layout of ``intersurv
datasets import`` (imported on the fly with the import options given here, or
per cohort in the TOML: see ``intersurv.study.cohorts``). Every cohort gets the
same audit configuration (the options of ``intersurv audit``); its run
directory ``DIR/cohorts/<name>/`` is a normal audit run. ``DIR/study.html`` and
``DIR/study.json`` hold the combined answer: per cohort the best fusion model
against late fusion, the clinical reference and the best unimodal model, the
cohort interaction test, a forest plot, a random-effects pooled ΔC with I² and
Holm-adjusted p-values. Re-running the same command resumes the whole study.
"""

from __future__ import annotations

import argparse

from .audit import add_audit_options
from .datasets import add_table_import_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="audit several cohorts with one configuration; write a combined report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohorts", nargs="+", metavar="COHORT",
                   help="cohort directories, built-in names or TCGA-layout table files (.csv / .csv.zip)")
    p.add_argument("--out", required=True, help="study directory")
    add_audit_options(p)
    add_table_import_options(p)
    p.set_defaults(func=_study)


def _study(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from ..errors import IntersurvError
    from ..report.study import cohort_sentence, pooled_sentences
    from ..study import StudyCohort, run_study
    from ..study.cohorts import cohorts_from_toml, parse_suffixes
    from .audit import audit_options

    data = audit_options(args, required=())
    toml_cohorts = data.pop("cohorts", None)
    if "cohort" in data:
        raise IntersurvError(f"{args.config}: a study lists its cohorts under 'cohorts', not 'cohort'")
    if args.cohorts:
        suffixes = parse_suffixes(args.modality_suffix, "--modality-suffix")
        cohorts = [StudyCohort(source=c, clinical=args.clinical, suffixes=suffixes,
                               missing_covariates=args.missing_covariates, drop_incomplete=args.drop_incomplete, allow_missing=args.allow_missing,
                               covariates_as_modality=args.covariates_as_modality) for c in args.cohorts]
    elif toml_cohorts is not None:
        cohorts = cohorts_from_toml(toml_cohorts, args.config, Path(args.config).resolve().parent)
    else:
        raise IntersurvError("--cohorts is required (or list 'cohorts' in --config)")
    started = time.perf_counter()
    study = run_study(cohorts, data, args.out, jobs=args.jobs, executor=args.executor, address=args.address,
                      source=args.config or "options")
    for line in [*map(cohort_sentence, study["cohorts"]), *pooled_sentences(study)]:
        print(line)
    out = Path(args.out)
    print(f"\nreport: {out / 'study.html'}   results: {out / 'study.json'}   "
          f"({time.perf_counter() - started:.0f} s)")
    return 0
