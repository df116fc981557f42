"""RNA-seq input -> the ``rna`` modality table of a cohort directory.

Steps, in order:

1. read the expression (a matrix file, or a folder of GDC STAR gene-count files);
2. map each sample to a patient of the clinical table and keep one sample per
   patient (:func:`~intersurv.rnaseq.patients.choose_samples`);
3. keep genes non-zero in more than ``min_nonzero`` of the kept samples;
4. apply log2(x + 1) (unless ``log2=False``);
5. optionally keep the ``top_k`` genes by variance or MAD of the log values;
6. write ``<out>/rna.parquet`` (patient_id + genes, patients in clinical
   order) and put the clinical table into ``<out>`` as ``clinical.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IntersurvError
from ..io.cohort_dir import write_modality_table
from .patients import choose_samples, install_clinical, match_patients, read_clinical_ids, tcga_patient
from .readers import Expression, read_matrix, read_star_dir
from .transform import log2p1, nonzero_genes, top_k


@dataclass
class PreparedRna:
    """What :func:`prepare_rnaseq` wrote, with the counts behind it."""

    path: Path
    patients: list[str]
    genes: list[str]
    n_samples_read: int
    n_genes_read: int
    n_genes_nonzero: int

    def lines(self) -> list[str]:
        return [f"read {self.n_samples_read} sample(s) x {self.n_genes_read} gene(s)",
                f"kept {self.n_genes_nonzero} gene(s) by the non-zero filter, {len(self.genes)} written",
                f"wrote {len(self.patients)} patient(s) to {self.path}"]


def read_expression(source: str | Path, clinical_ids: list[str], *, orientation: str = "auto",
                    value_column: str = "fpkm_uq_unstranded", sample_sheet: str | Path | None = None) -> Expression:
    """A folder is read as STAR gene-count files, a file as a matrix (see :mod:`.readers`)."""
    source = Path(source)
    if source.is_dir():
        return read_star_dir(source, value_column, sample_sheet)
    if not source.is_file():
        raise IntersurvError(f"{source}: no such file or directory")
    known = set(clinical_ids)
    return read_matrix(source, lambda s: s in known or tcga_patient(s) is not None, orientation)


def prepare_rnaseq(source: str | Path, clinical: str | Path, out: str | Path, *, orientation: str = "auto",
                   value_column: str = "fpkm_uq_unstranded", sample_sheet: str | Path | None = None,
                   min_nonzero: float = 0.8, log2: bool = True, top: int | None = None,
                   ranking: str = "variance", drop_unmatched: bool = False) -> PreparedRna:
    """Run the steps of the module docstring and write the ``rna`` table; returns what was written."""
    out = Path(out)
    clinical_ids = read_clinical_ids(clinical)
    expr = read_expression(source, clinical_ids, orientation=orientation, value_column=value_column,
                           sample_sheet=sample_sheet)
    hint = ("; GDC names files by UUID: give the GDC sample sheet with --sample-sheet"
            if Path(source).is_dir() and sample_sheet is None else "")
    patients = match_patients(expr.samples, clinical_ids, what="sample", clinical=clinical,
                              drop_unmatched=drop_unmatched, hint=hint)
    chosen = choose_samples(expr.samples, patients)
    ids = [p for p in clinical_ids if p in chosen]
    if not ids:
        raise IntersurvError(f"{expr.source}: no usable sample (all unmatched or normal tissue)")
    x = expr.values[[chosen[p] for p in ids]]
    keep = nonzero_genes(x, min_nonzero)
    if not keep.any():
        raise IntersurvError(f"{expr.source}: no gene is non-zero in more than {min_nonzero:.0%} of "
                             f"{len(ids)} sample(s); lower --min-nonzero")
    x = x[:, keep]
    genes = [g for g, k in zip(expr.genes, keep) if k]
    n_nonzero = len(genes)
    if log2:
        x = log2p1(x)
    if top is not None:
        idx = top_k(x, top, ranking)
        x, genes = x[:, idx], [genes[i] for i in idx]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rna.parquet"
    install_clinical(clinical, out)
    write_modality_table(path, np.asarray(ids), x, genes)
    return PreparedRna(path, ids, genes, len(expr.samples), len(expr.genes), n_nonzero)
