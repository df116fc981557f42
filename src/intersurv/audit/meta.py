"""Pooling paired differences across cohorts: random-effects meta-analysis and Holm's adjustment.

A study (:mod:`intersurv.study`) audits K cohorts with one configuration. For an
architecture A and a reference R, cohort k reports the mean paired difference
``theta_k`` (e.g. ΔC) with the 95 % interval of the corrected resampled t-test
(:mod:`intersurv.audit.comparisons`)::

    theta_k +- t_{0.975, df_k} * se_k,      se_k^2 = (1/J_k + n_test/n_train) s_k^2

so the standard error is recovered from the interval as
``se_k = (high - low) / (2 t_{0.975, df_k})`` (:func:`se_from_interval`). The
meta-analysis then treats ``v_k = se_k^2`` as the known within-cohort variance:
an approximation, since ``se_k`` is itself estimated from ``J_k`` unit
differences (``df_k = J_k - 1``; a t rather than a normal interval), which the
pooled interval below does not carry forward.

**DerSimonian-Laird random effects** (:func:`random_effects`), with
``w_k = 1 / v_k``::

    theta_FE = sum w_k theta_k / sum w_k
    Q        = sum w_k (theta_k - theta_FE)^2,                 df = K - 1
    tau^2    = max(0, (Q - df) / (sum w_k - sum w_k^2 / sum w_k))
    w*_k     = 1 / (v_k + tau^2)
    theta_RE = sum w*_k theta_k / sum w*_k,   se_RE = (sum w*_k)^(-1/2)
    I^2      = max(0, (Q - df) / Q)   (0 when Q = 0),   p_Q = P(chi^2_df >= Q)

I² is the share of the spread of the cohort estimates beyond what their
within-cohort errors explain; tau² the between-cohort variance of the true
differences (in ΔC², so tau is in C units).

**The interval: modified Hartung-Knapp** (Hartung & Knapp 2001; Sidik & Jonkman
2002; the "modified" floor of Röver, Knapp & Friede 2015)::

    s^2 = max(1, sum w*_k (theta_k - theta_RE)^2 / df),   se = s se_RE
    CI  = theta_RE +- t_{0.975, df} se,   p = 2 P(t_df >= |theta_RE| / se)

The DerSimonian-Laird normal interval ``theta_RE +- z_{0.975} se_RE`` is kept as
``normal``, but the study does not report it: on simulated studies of 3-10
cohorts whose true differences vary it covered the mean difference in only
83-91 % of replicates, the modified Hartung-Knapp interval in 94-100 %
(``validation/study_pooling.py``, ``docs/validation.md``). With K = 2 cohorts
the t quantile on 1 df (12.7) makes the interval very wide, which is what two
cohorts can say about a mean across cohorts.

**Holm's step-down adjustment** (:func:`holm`) controls the family-wise error
rate over a family of m p-values: sorted ascending, ``p_(i)`` becomes
``max_{j <= i} min(1, (m - j + 1) p_(j))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

#: How the study states its multiple-comparison control.
ADJUSTMENT = "holm"


def se_from_interval(ci: Sequence[float], df: int, level: float = 0.95) -> float:
    """The standard error behind a t interval ``estimate +- t_{(1+level)/2, df} se`` (NaN if unusable)."""
    lo, hi = (float(v) if v is not None else float("nan") for v in ci)
    if not (math.isfinite(lo) and math.isfinite(hi)) or df is None or df < 1:
        return float("nan")
    return (hi - lo) / (2.0 * float(stats.t.ppf(0.5 + level / 2, df)))


def random_effects(effects: Sequence[float], variances: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """DerSimonian-Laird random-effects pooling of K >= 2 estimates with known variances > 0, with the
    modified Hartung-Knapp interval (module docstring).

    Returns ``estimate``, ``se``, ``ci``, ``p_value`` (the modified Hartung-Knapp standard error, interval
    and two-sided p-value, t on ``df`` = K - 1), ``scale`` (its factor on se_RE^2, >= 1), ``normal``
    (``se``, ``ci``, ``p_value``: the DerSimonian-Laird normal interval), ``tau2``, ``q``, ``q_df``,
    ``q_p_value``, ``i2`` (a fraction), ``fixed`` (``estimate``, ``se``: the inverse-variance
    fixed-effect mean), ``weights`` (relative random-effects weights) and ``k``.
    """
    theta = np.asarray(effects, dtype=float)
    v = np.asarray(variances, dtype=float)
    if theta.shape != v.shape or theta.ndim != 1:
        raise ValueError("effects and variances must be 1-d arrays of the same length")
    if len(theta) < 2:
        raise ValueError("a meta-analysis needs at least 2 estimates")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("every estimate must be finite with a finite variance > 0")
    w = 1.0 / v
    fixed = float(np.sum(w * theta) / np.sum(w))
    q = float(np.sum(w * (theta - fixed) ** 2))
    df = len(theta) - 1
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c)
    w_re = 1.0 / (v + tau2)
    estimate = float(np.sum(w_re * theta) / np.sum(w_re))
    se_re = float(1.0 / math.sqrt(np.sum(w_re)))
    half = float(stats.norm.ppf(0.5 + level / 2)) * se_re
    scale = max(1.0, float(np.sum(w_re * (theta - estimate) ** 2)) / df)
    se = se_re * math.sqrt(scale)
    half_hk = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {
        "estimate": estimate, "se": se, "ci": [estimate - half_hk, estimate + half_hk],
        "p_value": float(2 * stats.t.sf(abs(estimate) / se, df)), "df": df, "scale": scale,
        "normal": {"se": se_re, "ci": [estimate - half, estimate + half],
                   "p_value": float(2 * stats.norm.sf(abs(estimate) / se_re))},
        "tau2": tau2, "q": q, "q_df": df, "q_p_value": float(stats.chi2.sf(q, df)),
        "i2": max(0.0, (q - df) / q) if q > 0 else 0.0,
        "fixed": {"estimate": fixed, "se": float(1.0 / math.sqrt(np.sum(w)))},
        "weights": (w_re / np.sum(w_re)).tolist(), "k": len(theta),
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (family-wise error rate)."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError("p-values must be a 1-d sequence of numbers in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out.tolist()
