"""Outcomes drawn from a fitted Cox model, with a cohort's own censoring.

Used wherever intersurv simulates outcomes for patients it already has (the
additive null of :mod:`intersurv.audit.additive_null`, the bootstrap and the
planted interactions of :mod:`intersurv.interactions.additivity_test`):

* event time from the Cox model with log-risk ``f`` and a Breslow baseline
  ``H0`` (jump times ``t_k``)::

      T = min{ t_k : H0(t_k) exp(f) >= E },   E ~ Exp(1)

  (no such t_k: the patient outlives the baseline and is censored);
* censoring time from the reverse Kaplan-Meier estimate ``G`` of the cohort's
  censoring (censorings as events; lifelines)::

      C = min{ c_k : G(c_k) <= U },   U ~ Uniform(0, 1)

  (no such c_k: the last follow-up time);
* observed time ``min(T, C)``, event ``1{T <= C}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .baseline import BreslowBaseline


@dataclass(frozen=True)
class CensoringCurve:
    """Reverse Kaplan-Meier estimate ``G(c_k)`` of a cohort's censoring (censorings as events; lifelines),
    and its last follow-up time."""

    times: np.ndarray
    survival: np.ndarray
    last: float

    @classmethod
    def fit(cls, time: np.ndarray, event: np.ndarray) -> "CensoringCurve":
        from lifelines import KaplanMeierFitter

        km = KaplanMeierFitter().fit(np.asarray(time, dtype=np.float64), 1 - np.asarray(event, dtype=int))
        return cls(km.survival_function_.index.to_numpy(dtype=np.float64),
                   km.survival_function_.iloc[:, 0].to_numpy(dtype=np.float64), float(np.max(time)))


def draw_outcomes(log_risk: np.ndarray, baseline: "BreslowBaseline", censoring: CensoringCurve,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) with event times from the Cox model (``log_risk``, ``baseline``) and censoring times
    from ``censoring`` (module docstring)."""
    log_risk = np.asarray(log_risk, dtype=np.float64)
    n = len(log_risk)
    # event times: the first baseline jump where the cumulative hazard reaches E exp(-f)
    target = rng.exponential(size=n) * np.exp(-log_risk)
    k = np.searchsorted(baseline.cumhaz, target, side="left")
    t_event = np.where(k < len(baseline.times), baseline.times[np.minimum(k, len(baseline.times) - 1)], np.inf)
    # censoring times: inverse of the reverse Kaplan-Meier curve
    c_times, c_surv = censoring.times, censoring.survival
    j = np.searchsorted(-c_surv, -rng.uniform(size=n), side="left")  # first c_k with G(c_k) <= U
    t_cens = np.where(j < len(c_times), c_times[np.minimum(j, len(c_times) - 1)], censoring.last)
    observed = (t_event <= t_cens).astype(np.int8)
    return np.where(observed == 1, t_event, t_cens), observed
