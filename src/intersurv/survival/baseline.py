"""Breslow estimate of the baseline cumulative hazard of a Cox model.

With log-risks h_j from any model, distinct event times u_1 < ... < u_K with
d_k events each and risk sets R_k = {j : t_j >= u_k}::

    H0(t) = sum_{k : u_k <= t} d_k / sum_{j in R_k} exp(h_j)
    S(t | x) = exp(-H0(t) exp(h(x))) = S0(t) ** exp(h(x))

H0 is a right-continuous step function: 0 before the first event time and
constant after the last one. Times are in the cohort's time unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import IntersurvError


@dataclass(frozen=True)
class BreslowBaseline:
    """Baseline cumulative hazard ``cumhaz[k] = H0(times[k])`` at the distinct training event times."""

    times: np.ndarray
    cumhaz: np.ndarray

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        cumhaz = np.asarray(self.cumhaz, dtype=np.float64).reshape(-1)
        if times.shape != cumhaz.shape or times.size == 0:
            raise IntersurvError(f"BreslowBaseline: times and cumhaz must be non-empty and of equal length "
                                 f"(got {times.size} and {cumhaz.size})")
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(cumhaz))):
            raise IntersurvError("BreslowBaseline: times and cumhaz must be finite")
        if np.any(np.diff(times) <= 0) or np.any(np.diff(cumhaz) < 0) or cumhaz[0] < 0:
            raise IntersurvError("BreslowBaseline: times must increase strictly and cumhaz must be "
                                 "non-decreasing and >= 0")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "cumhaz", cumhaz)

    @classmethod
    def fit(cls, log_risk: ArrayLike, time: ArrayLike, event: ArrayLike) -> "BreslowBaseline":
        """Fit H0 from training log-risks (N,), follow-up times (N,) and event indicators (N,)."""
        h = np.asarray(log_risk, dtype=np.float64).reshape(-1)
        t = np.asarray(time, dtype=np.float64).reshape(-1)
        e = np.asarray(event).reshape(-1).astype(bool)
        if not (h.size == t.size == e.size):
            raise IntersurvError(f"BreslowBaseline.fit: log_risk, time and event lengths differ "
                                 f"({h.size}, {t.size}, {e.size})")
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(t))):
            raise IntersurvError("BreslowBaseline.fit: log_risk and time must be finite")
        if not e.any():
            raise IntersurvError("BreslowBaseline.fit: the training data have no events")
        order = np.argsort(t, kind="stable")
        t_s, h_s, e_s = t[order], h[order], e[order]
        # log sum_{j >= i} exp(h_j) for every sorted position i
        log_tail = np.logaddexp.accumulate(h_s[::-1])[::-1]
        uniq, d = np.unique(t_s[e_s], return_counts=True)
        first = np.searchsorted(t_s, uniq, side="left")
        return cls(times=uniq, cumhaz=np.cumsum(d * np.exp(-log_tail[first])))

    def cumulative_hazard(self, t: ArrayLike) -> np.ndarray:
        """H0 at times ``t`` (any shape), float64 of the same shape."""
        tt = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(self.times, tt, side="right")
        return np.where(idx > 0, self.cumhaz[np.maximum(idx - 1, 0)], 0.0)

    def survival(self, log_risk: ArrayLike, times: ArrayLike) -> np.ndarray:
        """S(t | x) = exp(-H0(t) exp(h(x))) as an (N, T) float64 array for N log-risks and T times."""
        h = np.asarray(log_risk, dtype=np.float64).reshape(-1)
        H0 = self.cumulative_hazard(np.asarray(times, dtype=np.float64).reshape(-1))
        return np.exp(-np.exp(h)[:, None] * H0[None, :])

    def rmst(self, log_risk: ArrayLike, tau: float) -> np.ndarray:
        """Restricted mean survival time integral_0^tau S(t | x) dt, (N,) float64, in time units.

        Exact for the step function: the sum of S over each constant piece times its length.
        """
        if not (np.isfinite(tau) and tau > 0):
            raise IntersurvError(f"BreslowBaseline.rmst: tau must be finite and > 0, got {tau}")
        inside = self.times[self.times < tau]
        knots = np.concatenate([[0.0], inside, [float(tau)]])
        h = np.asarray(log_risk, dtype=np.float64).reshape(-1)
        S = self.survival(h, knots[:-1])  # S on [knots[i], knots[i+1])
        return S @ np.diff(knots)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_dict` reads back."""
        return {"method": "breslow", "times": self.times.tolist(), "cumhaz": self.cumhaz.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BreslowBaseline":
        """Rebuild from :meth:`to_dict` output."""
        if not (isinstance(data, dict) and data.get("method") == "breslow" and "times" in data and "cumhaz" in data):
            raise IntersurvError("BreslowBaseline.from_dict: expected a dict with method 'breslow', "
                                 "'times' and 'cumhaz'")
        return cls(times=np.asarray(data["times"], dtype=np.float64),
                   cumhaz=np.asarray(data["cumhaz"], dtype=np.float64))
