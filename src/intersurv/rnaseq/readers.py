"""Reading RNA-seq expression: a matrix file, or a folder of GDC STAR gene-count files.

Both readers return an :class:`Expression`: sample labels, gene labels and a
(samples, genes) float64 matrix of the values as stored (no transform).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import IntersurvError

STAR_GLOB = "*.rna_seq.augmented_star_gene_counts.tsv"
STAR_COLUMNS = ("unstranded", "stranded_first", "stranded_second", "tpm_unstranded", "fpkm_unstranded",
                "fpkm_uq_unstranded")
ORIENTATIONS = ("auto", "genes-by-samples", "samples-by-genes")


@dataclass
class Expression:
    """``values[i, j]`` is the expression of gene ``genes[j]`` in sample ``samples[i]``."""

    samples: list[str]
    genes: list[str]
    values: np.ndarray
    source: str


def _check_values(block: pd.DataFrame, row_labels: list[str], col_labels: list[str], source: Path,
                  samples_are_rows: bool) -> np.ndarray:
    """The block as float64; a non-numeric or NaN/inf cell is an IntersurvError naming sample and gene."""
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes)
    values = (block if numeric else block.apply(pd.to_numeric, errors="coerce")).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        sample, gene = (row_labels[r], col_labels[c]) if samples_are_rows else (col_labels[c], row_labels[r])
        raise IntersurvError(f"{source}: {int(bad.sum())} missing or non-numeric value(s); first: sample "
                             f"{sample!r}, gene {gene!r} has {block.iat[r, c]!r}")
    return values


def _first_duplicate(labels: list[str]) -> str | None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            return label
        seen.add(label)
    return None


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path)
            return df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
        sep = "," if name.endswith((".csv", ".csv.gz")) else "\t"
        return pd.read_csv(path, sep=sep)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntersurvError(f"{path}: cannot read expression matrix ({first})") from None


def read_matrix(path: str | Path, is_sample: Callable[[str], bool], orientation: str = "auto") -> Expression:
    """An expression matrix (CSV, TSV/TXT, optionally gzipped, or Parquet) with labels in its first column.

    ``orientation`` is ``genes-by-samples`` (rows are genes, columns samples),
    ``samples-by-genes``, or ``auto``: the axis on which more than half of the
    labels are samples (``is_sample``: a clinical ``patient_id`` or a TCGA
    barcode) is the sample axis; if that does not decide, an IntersurvError
    asks for ``--orientation``.
    """
    path = Path(path)
    if orientation not in ORIENTATIONS:
        raise IntersurvError(f"orientation must be one of {', '.join(ORIENTATIONS)}, not {orientation!r}")
    df = _read_table(path)
    if df.shape[1] < 2 or df.shape[0] < 1:
        raise IntersurvError(f"{path}: expected a label column and at least one value column")
    rows = df.iloc[:, 0].astype(str).tolist()
    cols = [str(c) for c in df.columns[1:]]
    if orientation == "auto":
        row_share = np.mean([is_sample(r) for r in rows])
        col_share = np.mean([is_sample(c) for c in cols])
        if row_share > 0.5 and row_share > col_share:
            orientation = "samples-by-genes"
        elif col_share > 0.5 and col_share > row_share:
            orientation = "genes-by-samples"
        else:
            raise IntersurvError(
                f"{path}: cannot tell samples from genes ({row_share:.0%} of row labels and {col_share:.0%} "
                "of column labels are patient ids or TCGA barcodes); give --orientation")
    samples_are_rows = orientation == "samples-by-genes"
    values = _check_values(df.iloc[:, 1:], rows, cols, path, samples_are_rows)
    samples, genes = (rows, cols) if samples_are_rows else (cols, rows)
    if not samples_are_rows:
        values = values.T
    for kind, labels in (("sample", samples), ("gene", genes)):
        dup = _first_duplicate(labels)
        if dup is not None:
            raise IntersurvError(f"{path}: {kind} {dup!r} appears twice")
    return Expression(samples, genes, np.ascontiguousarray(values), str(path))


def read_sample_sheet(path: str | Path) -> dict[str, str]:
    """GDC sample sheet (TSV with ``File Name`` and ``Sample ID``): file name -> sample barcode."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise IntersurvError(f"{path}: cannot read sample sheet ({exc})") from None
    for col in ("File Name", "Sample ID"):
        if col not in df.columns:
            raise IntersurvError(f"{path}: missing column {col!r} (a GDC sample sheet has 'File Name' and 'Sample ID')")
    sheet: dict[str, str] = {}
    for fname, sample in zip(df["File Name"], df["Sample ID"]):
        ids = sorted({s.strip() for s in str(sample).split(",")})
        if len(ids) != 1:
            raise IntersurvError(f"{path}: file {fname!r} has {len(ids)} sample ids ({', '.join(ids)}); expected one")
        sheet[str(fname)] = ids[0]
    return sheet


def _read_star_file(path: Path, value_column: str) -> pd.Series:
    """gene_id -> value of one STAR file, without the header comments and the ``N_`` summary rows."""
    try:
        with open(path, encoding="utf-8") as fh:
            n_comments = 0
            for line in fh:
                if not line.startswith("#"):
                    break
                n_comments += 1
        df = pd.read_csv(path, sep="\t", skiprows=n_comments, dtype={"gene_id": str})
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise IntersurvError(f"{path}: cannot read STAR gene counts ({exc})") from None
    if "gene_id" not in df.columns:
        raise IntersurvError(f"{path}: no 'gene_id' column (not a STAR gene-count file?)")
    if value_column not in df.columns:
        have = [c for c in df.columns if c in STAR_COLUMNS] or list(df.columns[1:])
        raise IntersurvError(f"{path}: no value column {value_column!r} (has {', '.join(map(str, have))})")
    df = df[~df["gene_id"].str.startswith("N_")]
    return pd.Series(df[value_column].to_numpy(), index=df["gene_id"].to_numpy(), name=path.name)


def read_star_dir(folder: str | Path, value_column: str = "fpkm_uq_unstranded",
                  sample_sheet: str | Path | None = None) -> Expression:
    """Every ``*.rna_seq.augmented_star_gene_counts.tsv`` under ``folder`` (recursively, as the GDC
    client lays them out, one sub-folder per file).

    A file's sample barcode comes from the GDC sample sheet when given
    (``File Name`` -> ``Sample ID``), else from its name, which must then start
    with the barcode. All files must list the same genes in the same order.
    """
    folder = Path(folder)
    files = sorted(folder.rglob(STAR_GLOB))
    if not files:
        raise IntersurvError(f"{folder}: no STAR gene-count files ({STAR_GLOB})")
    sheet = read_sample_sheet(sample_sheet) if sample_sheet is not None else None
    samples: list[str] = []
    for f in files:
        if sheet is not None:
            if f.name not in sheet:
                raise IntersurvError(f"{f}: not listed in the sample sheet {sample_sheet}")
            samples.append(sheet[f.name])
        else:
            samples.append(f.name.removesuffix(STAR_GLOB[1:]))
    first = _read_star_file(files[0], value_column)
    columns = [first.to_numpy()]
    for f in files[1:]:
        s = _read_star_file(f, value_column)
        if not s.index.equals(first.index):
            raise IntersurvError(f"{f}: its genes differ from those of {files[0].name} "
                                 "(different annotation or a truncated file)")
        columns.append(s.to_numpy())
    genes = first.index.astype(str).tolist()
    block = pd.DataFrame(np.column_stack(columns), index=genes, columns=samples)
    values = _check_values(block, genes, samples, folder, samples_are_rows=False).T
    dup = _first_duplicate(samples)
    if dup is not None:
        raise IntersurvError(f"{folder}: sample {dup!r} has more than one STAR file")
    return Expression(samples, genes, np.ascontiguousarray(values), str(folder))
