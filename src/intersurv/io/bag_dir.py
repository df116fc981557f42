"""Bag modalities of cohort directories (``kind = "bags"`` in cohort.toml).

A bag modality points at a directory instead of a table::

    [modalities.wsi]
    kind = "bags"
    dir = "wsi_h5"          # TRIDENT/CLAM .h5 bags, or a bag directory written by intersurv
    slides = "slides.csv"   # optional: columns slide (file stem) and patient_id

``dir`` is relative to the cohort directory (and must stay inside it) or an
absolute path (feature directories are large and usually live elsewhere).

* A directory of ``.h5`` bags (one slide per file; a patient may have several):
  each slide maps to a patient by ``slides`` when given, else by its file stem
  being a ``patient_id`` or a TCGA barcode starting with one
  (:func:`assign_slides`, also used by ``intersurv wsi pool``). Slides without a patient (not
  in the slide table, or their patient not in the clinical table) are ignored
  with a warning, like extra rows of a modality table. The files are read
  lazily (:class:`intersurv.h5bags.H5BagStore`).
* A bag directory with a ``bags.json`` manifest (written by
  :func:`write_bag_modality`, the simulator or :func:`intersurv.bags.write_bag_dir`
  with patient ids): one .npy of all patches plus offsets, read per bag.

A patient of the clinical table without a bag is missing from the modality,
with the usual ``drop_incomplete`` / ``allow_missing`` rules of
:func:`intersurv.io.cohort_dir.read_cohort_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import logging

import numpy as np

from ..bags import BAG_MANIFEST, BagSet, read_bag_manifest, write_bag_dir
from ..errors import CohortError, IntersurvError
from ..h5bags import open_h5_bags
from ..patient_labels import match_patients

log = logging.getLogger("intersurv")

BAG_KIND = "bags"


@dataclass(frozen=True)
class BagSource:
    """A bag modality found on disk: where, which patients have a bag, and how to open them."""

    path: Path
    present: frozenset[str]
    open: Callable[[Sequence[str]], BagSet]  # patient ids -> their bags (empty where absent)


def _bag_directory(root: Path, m: str, spec: dict[str, Any], cfg_path: Path) -> Path:
    if "file" in spec:
        raise CohortError(f"{cfg_path}: modality {m!r} of kind 'bags' takes dir (a directory of bags), not file")
    if "dir" not in spec:
        raise CohortError(f"{cfg_path}: modality {m!r} of kind 'bags' needs dir = the directory of its .h5 bags")
    raw = Path(spec["dir"]).expanduser()
    path = raw if raw.is_absolute() else (root / raw).resolve()
    if not raw.is_absolute() and root.resolve() not in path.parents:
        raise CohortError(f"{root / raw}: bag directory of modality {m!r} resolves to {path}, outside the "
                          "cohort directory (give an absolute path to use bags stored elsewhere)")
    if not path.is_dir():
        raise CohortError(f"{path}: bag directory of modality {m!r} not found")
    return path


def scan_bag_modality(root: Path, m: str, spec: dict[str, Any], clinical_ids: list[str],
                      clin_path: Path, cfg_path: Path) -> BagSource:
    """Find modality ``m``'s bags and the patients they belong to (no features read)."""
    path = _bag_directory(root, m, spec, cfg_path)
    if (path / BAG_MANIFEST).exists():
        if "slides" in spec:
            raise CohortError(f"{cfg_path}: modality {m!r}: 'slides' is for .h5 directories; {path} is an "
                              "intersurv bag directory with its own patient ids")
        try:
            meta = read_bag_manifest(path)
            if meta.get("patients") is None:
                raise IntersurvError(f"{path / BAG_MANIFEST}: no patient ids")
            sizes = np.load(path / "offsets.npy", allow_pickle=False)
        except (OSError, ValueError, IntersurvError) as exc:
            raise CohortError(f"modality {m!r}: {exc}") from None
        present = frozenset(str(p) for p, n in zip(meta["patients"], np.diff(sizes)) if n > 0)
        return BagSource(path, present, lambda ids: BagSet.open_dir(path, patients=ids))

    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".h5")
    if not files:
        others = sorted(p.name for p in path.iterdir() if p.suffix == ".pt")
        hint = f" ({others[0]} is a .pt bag: pool it with 'intersurv wsi pool')" if others else ""
        raise CohortError(f"{path}: no .h5 bags for modality {m!r}{hint}")
    mapping = None
    if "slides" in spec:
        mapping = root / spec["slides"]
        if root.resolve() not in mapping.resolve().parents:
            raise CohortError(f"{mapping}: slide table of modality {m!r} is outside the cohort directory")
    try:
        patients = assign_slides([f.stem for f in files], clinical_ids, clinical=clin_path, mapping=mapping,
                                 drop_unmatched=True)
    except IntersurvError as exc:
        raise CohortError(str(exc)) from None
    by_patient: dict[str, list[Path]] = {}
    for f, p in zip(files, patients):
        if p is not None:
            by_patient.setdefault(p, []).append(f)
    return BagSource(path, frozenset(by_patient),
                     lambda ids: open_h5_bags([by_patient.get(str(p), []) for p in ids], list(ids), str(path)))


def read_mapping(path: str | Path) -> dict[str, str]:
    """slide -> patient_id from a CSV with columns ``slide`` and ``patient_id``."""
    from .cohort_dir import read_table

    path = Path(path)
    df = read_table(path)
    for col in ("slide", "patient_id"):
        if col not in df.columns:
            raise IntersurvError(f"{path}: missing required column {col!r}")
    slides = df["slide"].astype(str)
    if slides.duplicated().any():
        raise IntersurvError(f"{path}: slide {slides[slides.duplicated()].iloc[0]!r} is listed twice")
    return dict(zip(slides, df["patient_id"].astype(str)))


def assign_slides(stems: list[str], clinical_ids: list[str], *, clinical: str | Path,
                  mapping: str | Path | None = None, drop_unmatched: bool = False) -> list[str | None]:
    """The patient of each slide (file stem), by the mapping file or by name (the module docstring of :mod:`intersurv.wsi.pool`).

    A slide without a patient is an IntersurvError (or None, with a warning,
    if ``drop_unmatched``); ``clinical`` names the clinical table in messages.
    """
    if mapping is None:
        return match_patients(stems, clinical_ids, what="slide", clinical=clinical, drop_unmatched=drop_unmatched)
    table, known = read_mapping(mapping), set(clinical_ids)
    patients: list[str | None] = [table[s] if table.get(s) in known else None for s in stems]
    bad = [s for s, p in zip(stems, patients) if p is None]
    if bad:
        why = (f"is not in {mapping}" if bad[0] not in table
               else f"maps to patient {table[bad[0]]!r}, which is not in {clinical}")
        if not drop_unmatched:
            raise IntersurvError(f"slide {bad[0]!r} {why} ({len(bad)} slide(s) without a patient; "
                                 "--drop-unmatched drops them)")
        log.warning("dropped %d slide(s) without a patient: %s", len(bad), ", ".join(bad[:10]))
    return patients


def write_bag_modality(bags: BagSet, ids: np.ndarray, root: Path, m: str) -> str:
    """Write modality ``m``'s bags under ``root`` as the bag directory ``<m>.bags`` (patients with a
    non-empty bag, atomically); returns the directory's name."""
    name = f"{m}.bags"
    present = np.flatnonzero(bags.sizes() > 0)
    patients = [str(p) for p in np.asarray(ids)[present]]
    target = root / name
    if Path(bags.describe()).resolve() == target.resolve() and len(present) == len(bags):
        meta = read_bag_manifest(target)
        if meta.get("patients") == patients and meta.get("bags") == len(bags) and \
                int(meta.get("patches", -1)) == int(bags.sizes().sum()):
            return name  # the bags already are this directory (e.g. simulated straight into it)
    write_bag_dir(bags.subset(present), target, patients=patients)
    return name
