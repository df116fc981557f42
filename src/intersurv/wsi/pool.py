"""Patch-feature bags -> a patient-level ``wsi`` modality by mean pooling.

A patient's vector is the mean over *all* patches of all of the patient's
slides (patch-weighted: a slide with twice the patches counts twice):

    z_p = (sum_s sum_{i in s} x_si) / (sum_s n_s),   s over the slides of p.

A slide is named by its file stem. It maps to a patient through a mapping file
(``slide``, ``patient_id`` columns) when one is given, else as
:mod:`intersurv.rnaseq.patients` maps labels (a ``patient_id`` itself or a TCGA
barcode starting with one). Empty bags (no patches) are skipped with a warning.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import IntersurvError
from ..io.cohort_dir import write_modality_table
from ..io.bag_dir import assign_slides
from ..rnaseq.patients import install_clinical, read_clinical_ids
from .bags import BAG_SUFFIXES, read_bag

log = logging.getLogger("intersurv")


def find_bags(h5_dir: str | Path) -> list[Path]:
    """The ``.h5`` and ``.pt`` bags in a directory, sorted; none, or one stem twice, is an IntersurvError."""
    root = Path(h5_dir)
    if not root.is_dir():
        raise IntersurvError(f"{root}: no such directory")
    bags = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in BAG_SUFFIXES)
    if not bags:
        raise IntersurvError(f"{root}: no .h5 or .pt patch-feature bags")
    dup = next((s for s, n in Counter(p.stem for p in bags).items() if n > 1), None)
    if dup is not None:
        raise IntersurvError(f"{root}: slide {dup!r} has both a .h5 and a .pt bag")
    return bags


def pool_bags(h5_dir: str | Path, clinical: str | Path, mapping: str | Path | None = None, *,
              drop_unmatched: bool = False) -> tuple[list[str], np.ndarray]:
    """Mean-pool the bags of ``h5_dir`` per patient: (patient ids in clinical order, (P, d) float32).

    A slide without a patient is an IntersurvError (or dropped with a warning
    if ``drop_unmatched``); patients without slides are named in a warning.
    """
    bags = find_bags(h5_dir)
    clinical_ids = read_clinical_ids(clinical)
    patients = assign_slides([p.stem for p in bags], clinical_ids, clinical=clinical, mapping=mapping,
                             drop_unmatched=drop_unmatched)

    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    dim: tuple[int, Path] | None = None
    for bag, patient in zip(bags, patients):
        if patient is None:
            continue
        x = read_bag(bag)
        if dim is None:
            dim = (x.shape[1], bag)
        elif x.shape[1] != dim[0]:
            raise IntersurvError(f"{bag}: {x.shape[1]} features per patch, but {dim[1].name} has {dim[0]}")
        if len(x) == 0:
            log.warning("%s: empty bag (no patches), skipped", bag)
            continue
        sums[patient] = sums.get(patient, 0.0) + x.sum(axis=0, dtype=np.float64)
        counts[patient] = counts.get(patient, 0) + len(x)
    if not sums:
        raise IntersurvError(f"{h5_dir}: no patches left to pool")
    ids = [p for p in clinical_ids if p in sums]
    without = [p for p in clinical_ids if p not in sums]
    if without:
        shown = ", ".join(without[:10]) + (", ..." if len(without) > 10 else "")
        log.warning("note: %d patient(s) of %s have no slide: %s", len(without), clinical, shown)
    x = np.stack([sums[p] / counts[p] for p in ids]).astype(np.float32)
    return ids, x


def pool_into_cohort(h5_dir: str | Path, clinical: str | Path, out: str | Path, mapping: str | Path | None = None,
                     *, drop_unmatched: bool = False) -> tuple[Path, int, int]:
    """:func:`pool_bags`, written as ``<out>/wsi.parquet`` (features ``f0..f{d-1}``) with the clinical
    table put into ``out`` as ``clinical.csv``; returns (path, patients, features)."""
    ids, x = pool_bags(h5_dir, clinical, mapping, drop_unmatched=drop_unmatched)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    install_clinical(clinical, out)
    path = out / "wsi.parquet"
    write_modality_table(path, np.asarray(ids), x, [f"f{j}" for j in range(x.shape[1])])
    return path, len(ids), x.shape[1]
