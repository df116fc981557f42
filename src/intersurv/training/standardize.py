"""Per-modality input transforms, fitted on training patients only.

Each modality m gets one of :data:`TRANSFORMS` (``transform`` of
:func:`intersurv.fit`: one name for every modality, or a dict name per
modality). With the training values x_{a,j} (a = 1..n) of feature j:

``standardize``::

    mean_j  = (1/n) sum_a x_{a,j}
    sd_j    = sqrt((1/n) sum_a (x_{a,j} - mean_j)^2)            (population sd)
    scale_j = sd_j if sd_j > SD_FLOOR else 1
    z_{a,j} = (x_{a,j} - mean_j) / scale_j

``clip``: the standardised value limited to [-CLIP, CLIP], z = min(max(z, -5), 5),
so that a few extreme values (z-scored expression reaching |z| > 1000) cannot
dominate a linear layer.

``rank_normal`` (rank-based inverse normal; the default of :func:`intersurv.fit`,
chosen by cross-validated C on real TCGA cohorts, see ``docs/validation.md``): z = Phi^-1(F_j(x)) with Phi the
standard normal CDF and F_j the training distribution of feature j as
K = min(n, KNOTS) quantile knots q_{k,j} at the Hazen plotting positions
p_k = (k - 1/2)/K (numpy's ``hazen`` quantiles); F_j interpolates linearly
between the knots and is constant at p_1 below q_{1,j} and at p_K above
q_{K,j}. With K = n and no ties this is exactly Phi^-1((rank - 1/2)/n) on the
training values. A constant training feature maps to 0.

**Missing modality.** A patient lacking a modality has an all-NaN row
(:attr:`intersurv.cohort.Cohort.missing`). The statistics are fitted on the
training patients who have the modality, and a missing row is imputed by the
raw training mean before the transform (z = 0 under ``standardize`` and
``clip``). This is the mean masker's absent value (its reference being the
model's training patients), so under the mean masker a missing modality is
absent from every coalition of that patient: its Shapley value and every
interaction involving it are 0 for that patient.

A (near-)constant training feature is only centred, never blown up.
Statistics are computed in float64 and stored as float32; the transform runs
in float32 (the models' precision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import IntersurvError

#: Features whose training sd is at or below this are centred but not scaled.
SD_FLOOR = 1e-6
TRANSFORMS = ("standardize", "clip", "rank_normal")
#: |z| limit of the ``clip`` transform (training standard deviations).
CLIP = 5.0
#: At most this many quantile knots per feature for ``rank_normal``.
KNOTS = 128


def transform_per_modality(transform: str | Mapping[str, str], modalities: list[str],
                           known: list[str] | None = None) -> dict[str, str]:
    """The transform name of each of ``modalities``; one-line errors for unknown transform names and
    for a dict naming a modality outside ``known`` (default: ``modalities``)."""
    if isinstance(transform, str):
        chosen = {m: transform for m in modalities}
    elif isinstance(transform, Mapping):
        unknown = sorted(set(transform) - set(known if known is not None else modalities))
        if unknown:
            raise IntersurvError(f"transform names modality {unknown[0]!r}, which the cohort does not have "
                                 f"({', '.join(known if known is not None else modalities)})")
        chosen = {m: str(transform.get(m, "standardize")) for m in modalities}
    else:
        raise IntersurvError(f"transform must be a name or a table modality -> name, not {transform!r}")
    given = {"every modality": transform} if isinstance(transform, str) else dict(transform)
    for m, t in given.items():
        if t not in TRANSFORMS:
            raise IntersurvError(f"transform {t!r} of {m if m == 'every modality' else repr(m)} is not one of "
                                 f"{', '.join(TRANSFORMS)}")
    return chosen


def hazen_knots(x: np.ndarray, k: int) -> np.ndarray:
    """``np.quantile(x, (arange(k) + 1/2) / k, axis=0, method="hazen")`` (k, d) from one sort of ``x``
    (n, d) float64, with numpy's arithmetic: virtual index ``v = n p - 1/2`` clamped to [0, n - 1], and
    between the neighbours ``a <= b`` with ``t = v - floor(v)`` the value ``a + (b - a) t``, or
    ``b - (b - a)(1 - t)`` where ``t >= 1/2``."""
    n = x.shape[0]
    s = np.sort(x, axis=0)
    p = (np.arange(k) + 0.5) / k
    v = n * p + (0.5 + p * (1 - 0.5 - 0.5)) - 1  # numpy's alpha = beta = 1/2 formula, term for term (same rounding)
    lo = np.floor(v)
    hi = lo + 1
    lo[v >= n - 1], hi[v >= n - 1] = n - 1, n - 1
    lo[v < 0], hi[v < 0] = 0, 0
    t = (v - np.where(v >= n - 1, -1, lo))[:, None]  # numpy's gamma (any t gives a when a = b)
    a, b = s[lo.astype(np.intp)], s[hi.astype(np.intp)]
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


def interp_columns(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x[:, j], xp[:, j], fp)`` for every column ``j`` at once, float64.

    ``x`` (n, d), ``xp`` (K, d) non-decreasing down each column, ``fp`` (K,).
    The same arithmetic as numpy's interp: with ``i`` the last knot at or below
    ``x`` (so ``xp_i <= x < xp_{i+1}``, the rightmost of tied knots), the value is
    ``fp_0`` below the first knot, ``fp_{K-1}`` at or above the last, ``fp_i`` at
    a knot and otherwise ``(fp_{i+1} - fp_i) / (xp_{i+1} - xp_i) * (x - xp_i) + fp_i``.
    """
    import torch

    # column-major throughout: each column's knots and values are contiguous; the search compares in the
    # inputs' common precision (float32 for float32 inputs: exact, and faster), the arithmetic is float64
    common = np.result_type(np.asarray(x).dtype, np.asarray(xp).dtype, np.float32)
    xt = np.ascontiguousarray(np.asarray(x, dtype=common).T)
    q = np.ascontiguousarray(np.asarray(xp, dtype=common).T)
    fp = np.asarray(fp, dtype=np.float64)
    d, k = q.shape
    # per column, the number r of knots <= x (torch's searchsorted is batched over leading dimensions) ...
    r = torch.searchsorted(torch.from_numpy(q), torch.from_numpy(xt), right=True).numpy()
    xt, q = xt.astype(np.float64), q.astype(np.float64)
    # ... picks column r of the (d, K + 1) tables of the pieces: flat below the first knot (r = 0) and from
    # the last one on (r = K), else the segment [xp_{r-1}, xp_r) (where tied knots leave it empty: slope 0)
    gap = np.diff(q, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(gap > 0, np.diff(fp) / gap, 0.0)
    zero = np.zeros((d, 1))
    slope = np.concatenate([zero, slope, zero], axis=1).ravel()
    start = np.concatenate([zero, q], axis=1).ravel()
    base = np.broadcast_to(np.concatenate([fp[:1], fp]), (d, k + 1)).ravel()
    flat = r + (k + 1) * np.arange(d)[:, None]
    return (slope[flat] * (xt - start[flat]) + base[flat]).T


@dataclass(frozen=True)
class Standardizer:
    """Per-modality ``mean`` and ``scale`` vectors (float32), the transform ``method`` of each
    modality and, for ``rank_normal``, its (K, d) quantile ``knots``."""

    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    method: dict[str, str] = field(default_factory=dict)
    knots: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def fit(cls, X: dict[str, np.ndarray], transform: str | Mapping[str, str] = "standardize") -> "Standardizer":
        """Statistics of the training arrays ``X`` (name -> (n, d_m)) for the chosen transforms."""
        method = transform_per_modality(transform, list(X))
        mean, scale, knots = {}, {}, {}
        for m, x in X.items():
            x64 = np.asarray(x, dtype=np.float64)
            x64 = x64[~np.isnan(x64).all(axis=1)]  # patients who have the modality
            if len(x64) == 0:
                raise IntersurvError(f"modality {m!r} is missing for every training patient")
            sd = x64.std(axis=0)
            mean[m] = x64.mean(axis=0).astype(np.float32)
            scale[m] = np.where(sd > SD_FLOOR, sd, 1.0).astype(np.float32)
            if method[m] == "rank_normal":
                k = min(len(x64), KNOTS)
                knots[m] = hazen_knots(x64, k).astype(np.float32)
        return cls(mean, scale, method, knots)

    def _rank_normal(self, m: str, x: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri

        q = self.knots[m]
        k = q.shape[0]
        z = ndtri(interp_columns(x, q, (np.arange(k) + 0.5) / k))
        return np.where(q[-1] > q[0], z, 0.0).astype(np.float32)  # a constant training feature maps to 0

    def transform(self, X: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The fitted transform of every fitted modality (float32); other keys are dropped."""
        out = {}
        for m, mu in self.mean.items():
            if m not in X:
                raise IntersurvError(f"input has no modality {m!r} (has {', '.join(map(str, X)) or 'none'})")
            x = np.asarray(X[m], dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != mu.shape[0]:
                raise IntersurvError(f"modality {m!r} has shape {x.shape}, expected (N, {mu.shape[0]})")
            lacking = np.isnan(x).all(axis=1)
            if lacking.any():  # missing modality: the raw training mean
                x = np.where(lacking[:, None], mu, x)
            method = self.method.get(m, "standardize")
            if method == "rank_normal":
                out[m] = self._rank_normal(m, x)
            else:
                z = (x - mu) / self.scale[m]
                out[m] = np.clip(z, -CLIP, CLIP) if method == "clip" else z
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (float32 values written exactly as float64 numbers); knots are not in it
        (they go to the weights file, see :class:`~intersurv.training.fitted.FittedModel`)."""
        return {m: {"mean": self.mean[m].tolist(), "scale": self.scale[m].tolist(),
                    "method": self.method.get(m, "standardize")} for m in self.mean}

    @classmethod
    def from_dict(cls, d: dict[str, Any], knots: dict[str, np.ndarray] | None = None) -> "Standardizer":
        return cls({m: np.asarray(v["mean"], dtype=np.float32) for m, v in d.items()},
                   {m: np.asarray(v["scale"], dtype=np.float32) for m, v in d.items()},
                   {m: str(v.get("method", "standardize")) for m, v in d.items()},
                   {m: np.asarray(a, dtype=np.float32) for m, a in (knots or {}).items()})
