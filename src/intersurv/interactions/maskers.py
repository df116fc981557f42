"""Maskers: what replaces the modalities outside a coalition (docs/design.md section 2).

A masker turns the reference set (by default the model's *training* data) into
a :class:`Background`: a small table of rows per modality and, for each
patient a, the K row numbers ``index[a]`` averaged over when a's modalities are
masked.

* ``mean``: one row, the per-modality mean over the reference set (K = 1),
  over the reference patients who have the modality (an all-NaN row marks a
  missing modality, see :attr:`intersurv.cohort.Cohort.missing`); a modality that no
  reference patient has is an error (there is no mean to stand for it);
* ``zero``: one row of zeros (K = 1; needs no reference);
* ``marginal``: K reference patients, the same K for every patient, drawn
  without replacement with the seed (all of them when the reference has at
  most K patients); the value is the average over the K (interventional);
* ``shuffle``: one reference patient per explained patient, drawn with
  replacement with the seed (K = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import IntersurvError


def _present(x: np.ndarray) -> np.ndarray:
    """The rows of ``x`` that are not entirely NaN (patients who have the modality)."""
    return x[~np.isnan(x).all(axis=1)]

MASKERS = ("mean", "zero", "marginal", "shuffle")


@dataclass(frozen=True)
class Background:
    """Masking rows per modality and, per patient, which K of them to average over.

    ``values[m]`` is ``(R, d_m)``; ``index`` is ``(N, K)`` integers into the R rows;
    ``shared`` says every patient has the same K rows (then the empty coalition's
    value is the same for all patients and is evaluated once).
    """

    masker: str
    values: dict[str, np.ndarray]
    index: np.ndarray
    shared: bool

    @property
    def n_per_patient(self) -> int:
        """K, the number of background rows averaged per patient and coalition."""
        return int(self.index.shape[1])


def make_background(
    masker: str,
    reference: dict[str, np.ndarray] | None,
    X: dict[str, np.ndarray],
    *,
    k: int,
    rng: np.random.Generator,
) -> Background:
    """The :class:`Background` of ``masker`` for the patients ``X`` (modality name -> ``(N, d)``).

    The masked rows take the dtype of ``X``, so that every row the model sees
    for a modality has the same dtype.
    """
    if masker not in MASKERS:
        raise IntersurvError(f"masker {masker!r}: expected one of {', '.join(MASKERS)}")
    n_patients = len(next(iter(X.values())))
    one_row = np.zeros((n_patients, 1), dtype=np.intp)
    if masker == "zero":
        return Background(masker, {m: np.zeros((1, x.shape[1]), dtype=x.dtype) for m, x in X.items()},
                          one_row, shared=True)
    if reference is None:
        raise IntersurvError(f"masker {masker!r} needs a reference set (the model's training data)")
    n_ref = len(next(iter(reference.values())))
    if masker == "mean":
        absent = [m for m in X if not len(_present(reference[m]))]
        if absent:
            raise IntersurvError(f"masker 'mean': no reference patient has modality {absent[0]!r} (all {n_ref} "
                                 "lack it), so it has no mean to stand for its absence; give a reference set "
                                 "with that modality")
        values = {m: _present(reference[m]).mean(axis=0, keepdims=True, dtype=np.float64).astype(x.dtype)
                  for m, x in X.items()}
        return Background(masker, values, one_row, shared=True)
    if masker == "marginal":
        rows = np.arange(n_ref) if k >= n_ref else np.sort(rng.choice(n_ref, size=k, replace=False))
        values = {m: reference[m][rows].astype(x.dtype, copy=False) for m, x in X.items()}
        index = np.broadcast_to(np.arange(len(rows)), (n_patients, len(rows)))
        return Background(masker, values, index, shared=True)
    index = rng.integers(n_ref, size=(n_patients, 1))
    return Background(masker, {m: reference[m].astype(x.dtype, copy=False) for m, x in X.items()}, index,
                      shared=False)
