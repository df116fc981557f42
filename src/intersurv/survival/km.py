"""Kaplan-Meier restricted mean survival time in numpy (vectorised; tested against lifelines).

The Kaplan-Meier estimate S(t) = prod_{u_k <= t} (1 - d_k / n_k) over distinct
times u_k with d_k events and n_k patients at risk; the RMST up to tau is the
area under that step function from 0 to tau, in the time unit of ``t``.
"""

from __future__ import annotations

import numpy as np


def km_rmst(t: np.ndarray, d: np.ndarray, tau: float) -> float:
    """Area under the Kaplan-Meier curve from 0 to tau (vectorised; tested against lifelines)."""
    times, inv = np.unique(t, return_inverse=True)
    deaths = np.bincount(inv, weights=d, minlength=len(times))
    at_risk = len(t) - np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=len(times)))[:-1]])
    surv = np.cumprod(1.0 - deaths / at_risk)
    knots = np.concatenate([[0.0], np.minimum(times, tau), [tau]])
    levels = np.concatenate([[1.0], surv])
    return float(np.sum(levels * np.diff(knots)))
