"""``intersurv rnaseq prepare INPUT --clinical clinical.csv --out COHORT_DIR``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rnaseq", help="import RNA-seq expression as the rna modality of a cohort")
    rsub = p.add_subparsers(dest="rnaseq_command", metavar="ACTION", required=True)
    q = rsub.add_parser(
        "prepare", help="expression matrix or GDC STAR count files -> COHORT_DIR/rna.parquet",
        description="Map TCGA sample barcodes to patients (one sample per patient, primary tumour 01 "
        "first), keep genes non-zero in more than --min-nonzero of the samples, apply log2(x+1), "
        "optionally keep the --top-k most variable genes, and write COHORT_DIR/rna.parquet. "
        "No standardisation: that belongs to each training fold.")
    q.add_argument("input", help="expression matrix (.csv, .tsv, .txt, .parquet) or a folder of "
                   "*.rna_seq.augmented_star_gene_counts.tsv files")
    q.add_argument("--clinical", required=True, help="clinical table with patient_id (copied into --out)")
    q.add_argument("--out", required=True, help="cohort directory to write rna.parquet into")
    q.add_argument("--orientation", choices=["auto", "genes-by-samples", "samples-by-genes"], default="auto",
                   help="matrix layout (default: detected from which labels are samples)")
    q.add_argument("--value-column", default="fpkm_uq_unstranded",
                   help="STAR column to use, e.g. tpm_unstranded or unstranded (default: fpkm_uq_unstranded)")
    q.add_argument("--sample-sheet", help="GDC sample sheet (TSV) mapping STAR file names to sample barcodes")
    q.add_argument("--min-nonzero", type=float, default=0.8,
                   help="keep genes non-zero in more than this fraction of samples (default: 0.8)")
    q.add_argument("--log2", action=argparse.BooleanOptionalAction, default=True,
                   help="apply log2(x+1) (default: yes; --no-log2 for values already on a log scale)")
    q.add_argument("--top-k", type=int, help="keep only the K genes with the largest spread")
    q.add_argument("--rank-by", choices=["variance", "mad"], default="variance",
                   help="spread measure for --top-k (default: variance)")
    q.add_argument("--drop-unmatched", action="store_true",
                   help="drop samples with no patient in --clinical instead of failing")
    q.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from ..rnaseq import prepare_rnaseq

    result = prepare_rnaseq(args.input, args.clinical, args.out, orientation=args.orientation,
                            value_column=args.value_column, sample_sheet=args.sample_sheet,
                            min_nonzero=args.min_nonzero, log2=args.log2, top=args.top_k,
                            ranking=args.rank_by, drop_unmatched=args.drop_unmatched)
    print("\n".join(result.lines()))
    return 0
