"""What interaction could the additivity test have found in this cohort? Planted interactions.

The cohort's own patients and modalities are kept; only their outcomes are
redrawn, from a Cox model whose log-risk is the cohort's fitted additive model
(:func:`~intersurv.interactions.additivity_test.score_statistic`: main effects
``a_m . p_m`` of the per-modality principal scores) plus a cross term of
chosen strength built from the same modalities::

    h_s(x) = sum_m r_m(x) + gamma_s (z(x) - mean z),   r_m = a_m . p_m,
    z(x) = sum_{m < l} r_m(x) r_l(x)

(the product of the modalities' own prognostic scores). ``gamma_s`` puts the
share ``s`` of ``Var(h_s)`` over the cohort in the cross term
(:func:`cross_coefficient`, the simulator's
``interaction`` parameter). Event times follow ``h_s`` with the additive
model's Breslow baseline, censoring the cohort's reverse Kaplan-Meier curve
(:func:`intersurv.survival.outcomes.draw_outcomes`). The *planted
InterSHAP* is what :func:`intersurv.explain` gives for ``h_s`` (log-risk, mean
masker, the cohort as reference, ``abs``), exactly.

Each draw is tested with the additivity test's score statistic against the
cohort's own parametric-bootstrap critical value (the ``1 - alpha`` quantile
of the null statistics of :func:`~intersurv.interactions.additivity_test.bootstrap_null`,
computed once per cohort rather than once per draw). The detection rate at
each strength estimates the test's power against that interaction in this
cohort; the *minimum detectable interaction* is the planted InterSHAP at which
the rate, interpolated linearly between strengths, first reaches ``power``
(``None`` if no strength reaches it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..seeds import PLANTED, derive_seed
from .additivity_test import CoxFit, intershap_of, score_statistic

if TYPE_CHECKING:
    from ..survival import BreslowBaseline
    from ..survival.outcomes import CensoringCurve

#: Cross-term shares of the log-risk variance planted by default.
SHARES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)


def cross_coefficient(main: np.ndarray, cross: np.ndarray, share: float) -> float:
    """``gamma >= 0`` with ``Var(gamma c) / Var(m + gamma c) = share`` over the cohort.

    With ``A = Var(m)``, ``B = Var(c)``, ``C = Cov(m, c)`` this is the positive
    root of ``(1 - share) B gamma^2 - 2 share C gamma - share A = 0``.
    """
    if share == 0:
        return 0.0
    cov = np.cov(main, cross, ddof=0)
    a, b, c = cov[0, 0], cov[1, 1], cov[0, 1]
    return float((share * c + np.sqrt((share * c) ** 2 + (1 - share) * b * share * a)) / ((1 - share) * b))


def planted_log_risk(scores: Mapping[str, np.ndarray], additive: CoxFit, share: float) -> tuple[np.ndarray, np.ndarray]:
    """``(h_s, beta)``: the planted log-risk on the cohort and the coefficients ``[a, G]`` of the same
    function as a :class:`~intersurv.interactions.additivity_test.ProductCox` (``G_ml = gamma a_m a_l^T``; module docstring)."""
    names = list(scores)
    widths = [scores[m].shape[1] for m in names]
    a = np.split(additive.beta, np.cumsum(widths)[:-1])
    r = [scores[m] @ a_m for m, a_m in zip(names, a)]
    z = sum(r[i] * r[j] for i in range(len(r)) for j in range(i + 1, len(r)))
    main = additive.log_risk - additive.log_risk.mean()
    gamma = cross_coefficient(main, z, share) if z.std() > 0 else 0.0
    blocks = [gamma * np.outer(a[i], a[j]).ravel() for i in range(len(r)) for j in range(i + 1, len(r))]
    return main + gamma * (z - z.mean()), np.concatenate([additive.beta, *blocks])


def planted_power(scores: Mapping[str, np.ndarray], main: np.ndarray, products: np.ndarray, additive: CoxFit,
                  baseline: "BreslowBaseline", censoring: "CensoringCurve", critical: float, *,
                  shares: tuple[float, ...] = SHARES, replicates: int = 50, power: float = 0.8,
                  seed: int = 0) -> dict[str, Any]:
    """Detection rate of the additivity test against planted interactions (module docstring).

    ``main``, ``products`` are the test's design of ``scores``, ``additive`` its additive fit with the
    Breslow ``baseline`` and the cohort's reverse Kaplan-Meier ``censoring``; ``critical`` is the
    cohort's bootstrap critical value of the score statistic.
    Returns ``{"shares", "planted_intershap", "detection_rate", "replicates", "minimum_detectable",
    "power"}``.
    """
    from ..survival.outcomes import draw_outcomes

    rng = np.random.default_rng(derive_seed(PLANTED, seed))
    names = list(scores)
    planted, rate = [], []
    for share in shares:
        h, beta = planted_log_risk(scores, additive, share)
        planted.append(intershap_of(names, beta, scores))
        hits = 0
        for _ in range(replicates):
            t_r, e_r = draw_outcomes(h, baseline, censoring, rng)
            hits += bool(e_r.any()) and score_statistic(main, products, t_r, e_r)[0] > critical
        rate.append(hits / replicates)
    return {"shares": list(shares), "planted_intershap": planted, "detection_rate": rate,
            "replicates": replicates, "power": power,
            "minimum_detectable": minimum_detectable(planted, rate, power)}


def minimum_detectable(planted: list[float], rate: list[float], power: float) -> float | None:
    """The smallest planted InterSHAP at which the detection rate (linear between points, in the order
    of increasing planted InterSHAP) reaches ``power``; None if it never does."""
    order = np.argsort(planted)
    x, y = np.asarray(planted)[order], np.asarray(rate)[order]
    above = np.flatnonzero(y >= power)
    if not len(above):
        return None
    k = int(above[0])
    if k == 0:
        return float(x[0])
    return float(x[k - 1] + (power - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1]))

