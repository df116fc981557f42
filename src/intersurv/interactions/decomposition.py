"""Exact Möbius, Shapley and InterSHAP algebra on coalition values (docs/design.md section 2).

All functions take coalition values ``v`` of shape ``(N, 2^M)`` in the bit
order of :mod:`.coalitions` and are vectorised over patients: one Möbius
butterfly (M passes over the array) and matrix products with precomputed
``(2^M, M)`` / ``(2^M, M, M)`` coefficient arrays.

* Möbius transform: ``m(S) = sum_{T subset S} (-1)^{|S|-|T|} v(T)``.
* Shapley value: ``phi_i = sum_{S contains i} m(S) / |S|``.
* Shapley interaction index: ``SII_ij = sum_{S contains i,j} m(S) / (|S| - 1)``,
  which equals ``sum_{S in M minus {i,j}} |S|!(M-|S|-2)!/(M-1)! D_ij(S)``.
* InterSHAP matrix: ``phi_ij = SII_ij / 2`` (i != j), ``phi_ii = phi_i - sum_{j != i} phi_ij``;
  row i sums to ``phi_i``, the matrix to ``v(M) - v(empty)``.
* Functional ANOVA terms: the Möbius coefficients ``m(S)``, S non-empty
  (``f_i = v(i) - v(empty)``, ``f_12 = v(12) - v(1) - v(2) + v(empty)``, ...),
  which sum to ``v(M) - v(empty)``.
* Additive projection: ``f_add = sum_i v(i) - (M - 1) v(empty)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .coalitions import coalition_members, coalition_sizes


def n_modalities_of(values: np.ndarray) -> int:
    """M from coalition values ``(..., 2^M)``."""
    n_coal = values.shape[-1]
    n_mod = n_coal.bit_length() - 1
    if n_coal != 2**n_mod or n_mod < 1:
        raise ValueError(f"coalition values have {n_coal} columns, not a power of 2 >= 2")
    return n_mod


def mobius(values: np.ndarray) -> np.ndarray:
    """Möbius transform over the last axis: ``(N, 2^M) -> (N, 2^M)``."""
    n_mod = n_modalities_of(values)
    m = np.array(values, dtype=np.float64, copy=True)
    lead = m.shape[:-1]
    for i in range(n_mod):
        # Axis layout (..., high bits, bit i, low bits): subtract the "without i" half.
        view = m.reshape(*lead, 2 ** (n_mod - i - 1), 2, 2**i)
        view[..., 1, :] -= view[..., 0, :]
    return m


@lru_cache(maxsize=None)
def _shapley_weights(n_mod: int) -> np.ndarray:
    """``(2^M, M)``: ``[S, i] = 1/|S|`` if i in S else 0."""
    members = coalition_members(n_mod)
    sizes = np.maximum(coalition_sizes(n_mod), 1)
    w = members / sizes[:, None]
    w.setflags(write=False)
    return w


@lru_cache(maxsize=None)
def _sii_weights(n_mod: int) -> np.ndarray:
    """``(2^M, M, M)``: ``[S, i, j] = 1/(|S| - 1)`` if i != j both in S else 0."""
    members = coalition_members(n_mod).astype(np.float64)
    sizes = coalition_sizes(n_mod)
    pair = members[:, :, None] * members[:, None, :] * (1.0 - np.eye(n_mod))[None]
    w = pair / np.maximum(sizes - 1, 1)[:, None, None]
    w.setflags(write=False)
    return w


def shapley_from_mobius(m: np.ndarray) -> np.ndarray:
    """Shapley values ``(N, M)`` from Möbius coefficients ``(N, 2^M)``."""
    return m @ _shapley_weights(n_modalities_of(m))


def sii_from_mobius(m: np.ndarray) -> np.ndarray:
    """Pairwise Shapley interaction indices ``(N, M, M)`` (zero diagonal)."""
    n_mod = n_modalities_of(m)
    w = _sii_weights(n_mod)
    return (m @ w.reshape(2**n_mod, n_mod * n_mod)).reshape(*m.shape[:-1], n_mod, n_mod)


def intershap_matrix(m: np.ndarray) -> np.ndarray:
    """The InterSHAP matrix ``(N, M, M)`` from Möbius coefficients ``(N, 2^M)``."""
    phi = shapley_from_mobius(m)
    mat = sii_from_mobius(m) / 2.0
    idx = np.arange(mat.shape[-1])
    mat[..., idx, idx] = phi - mat.sum(axis=-1)
    return mat


def additive_projection(values: np.ndarray) -> np.ndarray:
    """``f_add = sum_i v(i) - (M - 1) v(empty)`` per patient: ``(N, 2^M) -> (N,)``."""
    n_mod = n_modalities_of(values)
    singles = values[..., [1 << i for i in range(n_mod)]]
    return singles.sum(axis=-1) - (n_mod - 1) * values[..., 0]


def local_interaction_share(matrix: np.ndarray) -> np.ndarray:
    """Per-patient ``sum_{i!=j} |phi_ij| / sum_{ij} |phi_ij|`` (NaN where all are 0)."""
    a = np.abs(matrix)
    total = a.sum(axis=(-2, -1))
    inter = total - np.trace(a, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inter / np.where(total > 0, total, 1.0), np.nan)


def variance_decomposition(m: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Variances and covariances over patients of the functional ANOVA terms.

    ``m`` are Möbius coefficients ``(N, 2^M)``; ``labels[c]`` names coalition c.
    Returns ``{"terms": {term: Var}, "covariances": {"A|B": Cov}, "shares": ...,
    "total": Var(v(M) - v(empty))}``. Shares are fractions of the total
    variance: one per term and ``"covariance"`` (twice the sum of the
    covariances), which add up to 1. Variances use ``ddof = 0``.
    """
    terms = m[:, 1:]
    centred = terms - terms.mean(axis=0)
    cov = centred.T @ centred / len(m)
    names = labels[1:]
    variances = np.diag(cov)
    upper = np.triu_indices(len(names), k=1)
    total = float(cov.sum())
    if total > 0:
        shares = {name: float(v) / total for name, v in zip(names, variances)}
        shares["covariance"] = 2.0 * float(cov[upper].sum()) / total
    else:
        shares = {name: float("nan") for name in [*names, "covariance"]}
    return {
        "terms": {name: float(v) for name, v in zip(names, variances)},
        "covariances": {f"{names[i]}|{names[j]}": float(cov[i, j]) for i, j in zip(*upper)},
        "shares": shares,
        "total": total,
    }
