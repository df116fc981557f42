"""Principal-component reduction of wide modalities, fitted on training patients only.

A modality with more features than training patients (a 2048-d slide
embedding, thousands of genes, a few hundred patients) lets a network fit
noise long before it finds the few directions that carry the signal. The
reduction replaces such a modality's standardised features z (n x d, from
:class:`~intersurv.training.standardize.Standardizer`) by its leading
whitened principal-component scores. With the thin SVD ``Z = U S V^T`` of the
training part,

    lambda_j = s_j^2 / n                        (eigenvalues of the feature correlation matrix)
    u_{a,j}  = z_a . v_j / sqrt(lambda_j)       (unit variance over the training patients)

How many components k (``reduce`` of :func:`intersurv.fit`):

* ``"auto"``: only modalities with d > n are reduced, and they keep
  the components whose eigenvalue exceeds the Marchenko-Pastur upper edge
  ``(1 + sqrt(d / n))^2`` - the largest eigenvalue that d independent
  unit-variance noise features produce among n patients - at least 1 and at
  most :data:`MAX_COMPONENTS`;
* an integer k: every modality with more than k features keeps exactly
  ``min(k, n)`` components;
* ``"none"`` (the default of :func:`intersurv.fit`): no reduction.

The map is linear, so a masker's mean of raw features maps to the mean of the
scores: masking commutes with the reduction. Each axis' sign is fixed (its
largest-magnitude loading is positive) so that the result does not depend on
the LAPACK build's choice of sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .settings import check_reduce

#: ``reduce="auto"`` keeps at most this many components per modality.
MAX_COMPONENTS = 32
#: Eigenvalues at or below this (relative to the largest) are treated as zero.
_RANK_TOL = 1e-10


def noise_edge(n: int, d: int) -> float:
    """Marchenko-Pastur upper edge ``(1 + sqrt(d/n))^2`` for d unit-variance noise features, n patients."""
    return (1.0 + math.sqrt(d / n)) ** 2


def _principal_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``lambda_j = s_j^2 / n`` (decreasing) and the unit right singular vectors ``v_j``
    (d, r) of ``z`` (n, d). For d > n from the n x n Gram matrix ``z z^T = U S^2 U^T``, ``v_j = z^T u_j /
    s_j`` (n^2 d operations instead of the SVD's n d^2 + d^3 pieces; the columns with s_j = 0 are zero)."""
    n, d = z.shape
    if d <= n:
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        return s ** 2 / n, vt.T
    s2, u = np.linalg.eigh(z @ z.T)
    s2, u = np.clip(s2[::-1], 0.0, None), u[:, ::-1]
    s = np.sqrt(s2)
    v = (z.T @ u) / np.where(s > 0, s, 1.0)
    return s2 / n, v


def reduces(reduce: str | int, n: int, d: int) -> bool:
    """Whether ``reduce`` reduces a modality of d features fitted on n rows (module docstring)."""
    return not (reduce == "none" or (reduce == "auto" and d <= n) or (reduce != "auto" and d <= reduce))


def whitened_axes(lam: np.ndarray, v: np.ndarray, n: int, d: int, reduce: str | int) -> tuple[np.ndarray, float]:
    """The (d, k) float32 map ``V_k / sqrt(lambda_k)`` (signs fixed) and its share of the variance, from the
    decreasing eigenvalues ``lam`` and unit eigenvectors ``v`` of the correlation matrix of n rows."""
    usable = int(np.sum(lam > _RANK_TOL * lam[0]))
    if reduce == "auto":
        k = min(max(1, int(np.sum(lam > noise_edge(n, d)))), MAX_COMPONENTS, usable)
    else:
        k = min(int(reduce), usable)
    v = v[:, :k]
    flip = np.sign(v[np.abs(v).argmax(axis=0), np.arange(k)])
    return np.ascontiguousarray(v * flip / np.sqrt(lam[:k]), dtype=np.float32), float(lam[:k].sum() / lam.sum())


@dataclass(frozen=True)
class PrincipalAxes:
    """Per reduced modality the (d, k) float32 map ``V_k / sqrt(lambda_k)`` and the share of the
    training variance (sum of all eigenvalues) that the k components carry."""

    axes: dict[str, np.ndarray]
    variance_share: dict[str, float]

    @classmethod
    def fit(cls, Z: dict[str, np.ndarray], reduce: str | int) -> "PrincipalAxes":
        """Axes of the standardised training arrays ``Z`` (name -> (n, d_m)); see the module docstring."""
        check_reduce(reduce)
        axes, share = {}, {}
        for m, z in Z.items():
            n, d = z.shape
            if reduces(reduce, n, d):
                axes[m], share[m] = whitened_axes(*_principal_axes(np.asarray(z, dtype=np.float64)), n, d, reduce)
        return cls(axes, share)

    def widths(self, widths: dict[str, int]) -> dict[str, int]:
        """The network's input widths: k for a reduced modality, d otherwise."""
        return {m: int(self.axes[m].shape[1]) if m in self.axes else d for m, d in widths.items()}

    def transform(self, Z: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Scores ``z @ axes`` for reduced modalities; the others unchanged (float32)."""
        return {m: (z @ self.axes[m]).astype(np.float32, copy=False) if m in self.axes else z for m, z in Z.items()}

    def summary(self) -> dict[str, dict[str, float | int]]:
        """JSON-able record: components kept and the share of the total variance they carry, per modality."""
        return {m: {"components": int(self.axes[m].shape[1]), "variance_share": self.variance_share[m]}
                for m in self.axes}
