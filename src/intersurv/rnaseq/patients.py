"""Samples and clinical tables of ``rnaseq prepare``: the clinical ids, one sample per patient.

Labels map to patients as :mod:`intersurv.patient_labels` says (re-exported
here: ``match_patients``, ``tcga_patient``, ``tcga_sample_type``, ``tcga_vial``).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ..errors import IntersurvError
from ..patient_labels import match_patients, tcga_patient, tcga_sample_type, tcga_vial

__all__ = ["choose_samples", "install_clinical", "match_patients", "read_clinical_ids", "tcga_patient",
           "tcga_sample_type", "tcga_vial"]

log = logging.getLogger("intersurv")


def read_clinical_ids(clinical: str | Path) -> list[str]:
    """The ``patient_id`` column of a clinical table (CSV or Parquet), as strings."""
    from ..io.cohort_dir import read_table

    path = Path(clinical)
    df = read_table(path)
    if "patient_id" not in df.columns:
        raise IntersurvError(f"{path}: missing required column 'patient_id'")
    return df["patient_id"].astype(str).tolist()


def install_clinical(clinical: str | Path, out: str | Path) -> None:
    """Put the clinical table into the cohort directory ``out`` as ``clinical.csv``.

    Copied when absent; left alone when the same file is there; a different
    ``clinical.csv`` already in ``out`` is an IntersurvError (nothing is overwritten).
    """
    src, dst = Path(clinical), Path(out) / "clinical.csv"
    if src.suffix != ".csv":
        raise IntersurvError(f"{src}: the clinical table must be a CSV file (it becomes {dst})")
    if dst.exists():
        if dst.resolve() == src.resolve() or dst.read_bytes() == src.read_bytes():
            return
        raise IntersurvError(f"{dst}: already holds a different clinical table than {src}; "
                             "use that one with --clinical or another --out")
    from ..io.atomic import atomic_path

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def choose_samples(labels: list[str], patients: list[str | None]) -> dict[str, int]:
    """One sample per patient: patient -> index into ``labels``.

    Rule (deterministic): normal and control samples (TCGA sample types 10-29)
    are never used; among a patient's other samples the lowest sample type wins
    (01 primary tumour before 02 recurrent, 03 primary blood cancer, 06
    metastatic, ...; a label without a sample type, such as the patient_id
    itself, counts as 00), then the lowest vial letter (01A before 01B), then
    the full label in sort order. Samples left out are named in an INFO log line.
    """
    best: dict[str, tuple[tuple[int, str, str], int]] = {}
    normals: list[int] = []
    for i, (label, patient) in enumerate(zip(labels, patients)):
        if patient is None:
            continue
        stype = tcga_sample_type(label) or 0
        if stype >= 10:
            normals.append(i)
            continue
        key = (stype, tcga_vial(label), label)
        if patient not in best or key < best[patient][0]:
            best[patient] = (key, i)
    chosen = {p: i for p, (_, i) in best.items()}
    skipped = set(chosen.values()) | set(normals)
    extra = [i for i, p in enumerate(patients) if p is not None and i not in skipped]
    left_out = {"normal/control sample(s)": normals, "further sample(s) of patients with a preferred one": extra}
    for what, idx in left_out.items():
        if idx:
            shown = ", ".join(labels[i] for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
            log.info("left out %d %s: %s", len(idx), what, shown)
    return chosen
