"""Patient labels: TCGA barcodes and matching sample or slide labels to the patients of a clinical table.

A label maps to a patient when it *is* a ``patient_id`` of the clinical table,
or else when it is a TCGA barcode whose first 12 characters
(``TCGA-<site>-<participant>``) are one. In a longer barcode, characters 14-15
are the sample type: 01-09 tumour (01 primary solid tumour), 10-19 normal,
20-29 control; character 16 is the vial (A, B, ...).

Used by ``intersurv rnaseq prepare`` (samples), ``intersurv wsi pool`` and bag
modalities of cohort directories (slides); imports nothing of intersurv but errors.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .errors import IntersurvError

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
