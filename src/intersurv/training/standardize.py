"""Per-modality feature standardisation, fitted on training patients only.

For modality m and feature j, with the training values x_{a,j} (a = 1..n):

    mean_j  = (1/n) sum_a x_{a,j}
    sd_j    = sqrt((1/n) sum_a (x_{a,j} - mean_j)^2)            (population sd)
    scale_j = sd_j if sd_j > SD_FLOOR else 1
    z_{a,j} = (x_{a,j} - mean_j) / scale_j

A (near-)constant training feature is only centred, not blown up. Statistics
are computed in float64 and stored as float32; the transform runs in float32
(the models' precision). Units: z is in training standard deviations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import IntersurvError

#: Features whose training sd is at or below this are centred but not scaled.
SD_FLOOR = 1e-6


@dataclass(frozen=True)
class Standardizer:
    """Per-modality ``mean`` and ``scale`` vectors (float32), keyed by modality name."""

    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]

    @classmethod
    def fit(cls, X: dict[str, np.ndarray]) -> "Standardizer":
        """Statistics of the training arrays ``X`` (name -> (n, d_m))."""
        mean, scale = {}, {}
        for m, x in X.items():
            x64 = np.asarray(x, dtype=np.float64)
            sd = x64.std(axis=0)
            mean[m] = x64.mean(axis=0).astype(np.float32)
            scale[m] = np.where(sd > SD_FLOOR, sd, 1.0).astype(np.float32)
        return cls(mean, scale)

    def transform(self, X: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """z = (x - mean) / scale for every fitted modality (float32); other keys are dropped."""
        out = {}
        for m, mu in self.mean.items():
            if m not in X:
                raise IntersurvError(f"input has no modality {m!r} (has {', '.join(map(str, X)) or 'none'})")
            x = np.asarray(X[m], dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != mu.shape[0]:
                raise IntersurvError(f"modality {m!r} has shape {x.shape}, expected (N, {mu.shape[0]})")
            out[m] = (x - mu) / self.scale[m]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (float32 values written exactly as float64 numbers)."""
        return {m: {"mean": self.mean[m].tolist(), "scale": self.scale[m].tolist()} for m in self.mean}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Standardizer":
        return cls({m: np.asarray(v["mean"], dtype=np.float32) for m, v in d.items()},
                   {m: np.asarray(v["scale"], dtype=np.float32) for m, v in d.items()})
