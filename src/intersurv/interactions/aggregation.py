"""Global InterSHAP scores and modality shares (docs/design.md section 2).

Each aggregation turns the per-patient InterSHAP matrices ``phi^a`` ``(N, M, M)``
into shares ``(M + 1,)``: one per modality and the interaction share last,
adding up to 1. The interaction share is the global InterSHAP score.

* ``abs`` (default): ``Phi_ij = mean_a |phi_ij^a|``; share of modality i
  ``Phi_ii / sum_ij Phi_ij``, interaction ``sum_{i!=j} Phi_ij / sum_ij Phi_ij``.
* ``paper`` (Wenderoth et al., Eq. 5-8): the same with ``Phi_ij = |mean_a phi_ij^a|``.
* ``local_mean`` (Wenderoth et al., Eq. 10): mean over patients of the
  per-patient shares ``|phi_ii^a| / sum_ij |phi_ij^a|`` and
  ``sum_{i!=j} |phi_ij^a| / sum_ij |phi_ij^a|`` (patients whose matrix is all
  zero are left out).
* ``swift2026`` (the glioma study, M = 2 only): mean over patients of
  ``|phi_int| / (|phi_1| + |phi_2| + |phi_int|)`` with the full Shapley values
  ``phi_i`` and ``phi_int = phi_12 = (v(12) - v(1) - v(2) + v(empty)) / 2``, the
  study's own convention (modality shares ``|phi_i| / (...)`` likewise). The
  interaction is counted in ``phi_1`` and ``phi_2`` as well, which is why
  this is not the default.

Every function takes optional bootstrap ``weights`` ``(B, N)`` (how often each
patient is drawn) and then returns one result per replicate ``(B, M + 1)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import IntersurvError

AGGREGATIONS = ("abs", "paper", "local_mean", "swift2026")


def check_aggregation(aggregation: str, n_modalities: int) -> None:
    """Raise :class:`IntersurvError` for an unknown aggregation or swift2026 with M != 2."""
    if aggregation not in AGGREGATIONS:
        raise IntersurvError(f"aggregation {aggregation!r}: expected one of {', '.join(AGGREGATIONS)}")
    if aggregation == "swift2026" and n_modalities != 2:
        raise IntersurvError(f"aggregation 'swift2026' is defined for 2 modalities only, not {n_modalities}")


def _ratio(part: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``part / total[..., None]``, NaN where total is 0."""
    ok = total > 0
    return np.where(ok[..., None], part / np.where(ok, total, 1.0)[..., None], np.nan)


def _shares_of(phi: np.ndarray) -> np.ndarray:
    """``(..., M, M)`` non-negative matrices -> ``(..., M + 1)`` shares."""
    diag = np.diagonal(phi, axis1=-2, axis2=-1)
    total = phi.sum(axis=(-2, -1))
    parts = np.concatenate([diag, (total - diag.sum(axis=-1))[..., None]], axis=-1)
    return _ratio(parts, total)


def patient_shares(matrix: np.ndarray, aggregation: str, shapley: np.ndarray) -> np.ndarray:
    """Per-patient shares ``(N, M + 1)`` of ``local_mean`` (and ``abs``/``paper``) or ``swift2026``."""
    if aggregation == "swift2026":
        parts = np.abs(np.concatenate([shapley, matrix[:, 0, 1][:, None]], axis=1))
        return _ratio(parts, parts.sum(axis=1))
    return _shares_of(np.abs(matrix))


def _weighted_nanmean(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Mean over patients (axis 0) ignoring NaN; per replicate with weights ``(B, N)``."""
    ok = ~np.isnan(x)
    filled = np.where(ok, x, 0.0)
    w = np.ones((1, len(x))) if weights is None else weights
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w @ filled) / (w @ ok)
    return mean[0] if weights is None else mean


def shares(
    matrix: np.ndarray,
    aggregation: str,
    *,
    shapley: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Global shares ``(M + 1,)`` (modalities, then interaction), or ``(B, M + 1)`` with weights."""
    n, n_mod, _ = matrix.shape
    check_aggregation(aggregation, n_mod)
    if aggregation in ("local_mean", "swift2026"):
        return _weighted_nanmean(patient_shares(matrix, aggregation, shapley), weights)
    flat = (np.abs(matrix) if aggregation == "abs" else matrix).reshape(n, n_mod * n_mod)
    w = np.ones((1, n)) if weights is None else weights
    phi = (w @ flat / w.sum(axis=1, keepdims=True)).reshape(-1, n_mod, n_mod)
    if aggregation == "paper":
        phi = np.abs(phi)
    out = _shares_of(phi)
    return out[0] if weights is None else out
