"""Matching sample and slide labels to the patients of a clinical table (TCGA barcodes).

A label maps to a patient when it *is* a ``patient_id`` of the clinical table,
or else when it is a TCGA barcode whose first 12 characters
(``TCGA-<site>-<participant>``) are one. In a longer barcode, characters 14-15
are the sample type: 01-09 tumour (01 primary solid tumour), 10-19 normal,
20-29 control; character 16 is the vial (A, B, ...).

Also used by ``intersurv wsi pool``, which maps slides to patients the same way.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from ..errors import IntersurvError

log = logging.getLogger("intersurv")

_TCGA = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}(?:-(\d{2})([A-Z])?)?", re.IGNORECASE)


def tcga_patient(label: str) -> str | None:
    """``TCGA-XX-XXXX`` (upper case) of a TCGA barcode, else None."""
    m = _TCGA.match(label)
    return m.group(0)[:12].upper() if m else None


def tcga_sample_type(label: str) -> int | None:
    """The two-digit sample type of a TCGA sample barcode (1 = primary tumour), else None."""
    m = _TCGA.match(label)
    return int(m.group(1)) if m and m.group(1) else None


def tcga_vial(label: str) -> str:
    """The vial letter of a TCGA sample barcode ('' when absent)."""
    m = _TCGA.match(label)
    return (m.group(2) or "").upper() if m else ""


def read_clinical_ids(clinical: str | Path) -> list[str]:
    """The ``patient_id`` column of a clinical table (CSV or Parquet), as strings."""
    from ..io.cohort_dir import read_table

    path = Path(clinical)
    df = read_table(path)
    if "patient_id" not in df.columns:
        raise IntersurvError(f"{path}: missing required column 'patient_id'")
    return df["patient_id"].astype(str).tolist()


def match_patients(labels: list[str], clinical_ids: list[str], *, what: str, clinical: str | Path,
                   drop_unmatched: bool, hint: str = "") -> list[str | None]:
    """The patient of each label (see the module docstring); None for a dropped unmatched label.

    A label without a patient is an IntersurvError naming it, unless
    ``drop_unmatched``, in which case a warning names how many were dropped.
    ``what`` names the labels in messages ("sample", "slide"); ``hint`` ends the error message.
    """
    known = set(clinical_ids)
    out: list[str | None] = []
    unmatched: list[str] = []
    for label in labels:
        patient = label if label in known else tcga_patient(label)
        if patient is None or patient not in known:
            unmatched.append(label)
            patient = None
        out.append(patient)
    if unmatched:
        if not drop_unmatched:
            raise IntersurvError(
                f"{what} {unmatched[0]!r} matches no patient_id of {clinical} ({len(unmatched)} unmatched "
                f"{what}(s); a {what} label must be a patient_id or a TCGA barcode starting with one; "
                f"--drop-unmatched drops them){hint}")
        shown = ", ".join(unmatched[:10]) + (", ..." if len(unmatched) > 10 else "")
        log.warning("dropped %d %s(s) with no patient in %s: %s", len(unmatched), what, clinical, shown)
    return out


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
