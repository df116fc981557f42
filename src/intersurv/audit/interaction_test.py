"""The audit's calibrated answers about interaction: ``results["interaction_test"]``.

**Cohort** (:func:`cohort_test`, once per audit): the additivity test, the
interaction estimate with its CI and the minimum detectable interaction of
:mod:`intersurv.interactions.additivity_test` and :mod:`intersurv.interactions.planted`.

**Per architecture** (:func:`architecture_tests`), a held-out test of "the
model's interaction predicts survival on patients it was not fitted on". For
each unit, with ``f`` the model's log-risk on its test patients and ``f_add``
its additive projection (the unit's explanation: training patients as
reference, the audit's masker), the interaction component ``g = f - f_add``
enters a Cox model on the test patients (Breslow ties, :func:`~intersurv.interactions.additivity_test.cox_ridge`)
beside ``f_add`` and the main effects of the cohort's principal scores ``p``
(fitted without outcomes; they absorb additive signal that ``f_add`` missed
and ``g`` would otherwise pick up)::

    h(x) = b f_add(x) + c . p(x) + beta g(x),   z_u = beta_hat / se(beta_hat)

The test patients are untouched by training, so inference conditional on the
fitted functions holds; but a Wald z of a dozen columns on a test fold of
~100 patients is not standard normal (its sd was 1.03-1.25 on null cohorts,
rejecting in up to 9 % at the 5 % level, docs/validation.md). So each unit's
p-value is a **parametric bootstrap** conditional on the unit's fitted
functions: the null model ``b f_add + c . p`` fitted on the test patients
draws ``B`` new outcome sets for them (event times from its Breslow baseline,
censoring from the test patients' reverse Kaplan-Meier curve;
:mod:`intersurv.survival.outcomes`), the Wald z is recomputed on each, and::

    p_u = (1 + #{z_b >= z_u}) / (B + 1),   z'_u = Phi^-1(1 - p_u)

Units are combined by Stouffer's sum over the folds of a seed, ``z_s = sum_f
z'_f / sqrt(F)``; seeds reuse patients, so their ``z_s`` are averaged, ``z =
mean_s z_s``, whose null variance is at most 1, and ``p = 1 - Phi(z)``
(one-sided: H1 is that the interaction predicts in the direction the model
uses it; conservative across seeds). A unit whose ``g`` is 0 to float32
rounding (late fusion, additive by construction) has nothing to test:
``z'_u = 0``; when no unit has anything to test, ``p = 1`` and the effect is
0. With fewer than 2 test events per column the principal scores are left
out, with fewer than 4 the unit is not tested (``z'_u = 0``; if no unit is
tested for that reason, p and effect are None).

*Effect*: the InterSHAP of the model recalibrated on held-out patients,
``f_add + beta g``. On the log-risk scale with the ``abs`` aggregation
scaling ``g`` by ``b >= 0`` scales every interaction entry of the InterSHAP
matrices by ``b`` and leaves the main terms alone, so with ``I`` the
architecture's pooled InterSHAP::

    effect = b I / (1 - I + b I),   b = max(beta, 0)

``beta`` is the inverse-variance weighted mean over the folds of a seed,
averaged over seeds (its se likewise, the mean over seeds: conservative); the
CI maps ``beta +- 1.96 se`` through the same formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..analysis.prognostic import zero_up_to_float_error
from ..cohort import Cohort
from ..interactions.settings import ExplainSettings
from ..models import model_modalities
from ..positions import positions
from ..seeds import HELDOUT_TEST, derive_seed
from ..survival import BreslowBaseline
from ..survival.outcomes import CensoringCurve, draw_outcomes
from ..interactions.additivity_test import (
    MAIN_PENALTY, MIN_EVENTS_PER_COLUMN, cohort_interaction, cox_ridge, principal_scores,
)


#: Parametric-bootstrap outcome draws per unit (module docstring).
HELDOUT_REPLICATES = 199


def _wald(X: np.ndarray, time: np.ndarray, event: np.ndarray) -> tuple[float, float, float]:
    """``(z, beta, se)`` of the last column of ``X`` in a Cox fit (Breslow ties) of all columns."""
    fit = cox_ridge(X, time, event, MAIN_PENALTY)
    var = np.linalg.inv(fit.information)[-1, -1]
    se = float(np.sqrt(var)) if var > 0 else float("inf")
    beta = float(fit.beta[-1])
    return (beta / se if np.isfinite(se) else 0.0), beta, se


def heldout_unit_test(log_risk: np.ndarray, additive: np.ndarray, time: np.ndarray, event: np.ndarray,
                      adjust: np.ndarray | None = None, *, replicates: int = HELDOUT_REPLICATES,
                      rng: np.random.Generator | None = None) -> dict[str, Any]:
    """``{"tested", "z", "p", "wald_z", "beta", "se"}`` of one unit's test patients (module docstring):
    ``z`` is the bootstrap-calibrated ``z'_u``, ``p`` its one-sided p-value, ``wald_z`` the raw Wald z;
    ``adjust`` are the principal scores of the same patients (or None); ``rng`` draws the bootstrap
    outcomes (default: seeded 0)."""
    f, f_add = np.asarray(log_risk, dtype=np.float64), np.asarray(additive, dtype=np.float64)
    time, event = np.asarray(time, dtype=np.float64), np.asarray(event)
    g = f - f_add
    untested = {"tested": False, "z": 0.0, "p": None, "wald_z": 0.0, "beta": 0.0, "se": None}
    if zero_up_to_float_error(g, f):  # additive up to rounding
        return untested
    if adjust is not None and np.sum(event) < MIN_EVENTS_PER_COLUMN * (2 + adjust.shape[1]):
        adjust = None  # too few test events to adjust for the principal scores
    if np.sum(event) < MIN_EVENTS_PER_COLUMN * 2:
        return {**untested, "few_events": True}
    scale = float(g.std()) or 1.0  # numerics only: beta is reported per unit of g
    X = np.column_stack([f_add] + ([] if adjust is None else [adjust]) + [g / scale])
    wald_z, beta, se = _wald(X, time, event)
    null = cox_ridge(X[:, :-1], time, event, MAIN_PENALTY)
    baseline, censoring = BreslowBaseline.fit(null.log_risk, time, event), CensoringCurve.fit(time, event)
    rng = np.random.default_rng(0) if rng is None else rng
    draws = np.empty(replicates)
    for b in range(replicates):
        t_b, e_b = draw_outcomes(null.log_risk, baseline, censoring, rng)
        draws[b] = _wald(X, t_b, e_b)[0] if e_b.any() else 0.0
    p = float((1 + np.sum(draws >= wald_z)) / (replicates + 1))
    return {"tested": True, "z": float(norm.isf(p)), "p": p, "wald_z": wald_z, "beta": beta / scale,
            "se": se / scale}


def combine_units(tests: list[dict[str, Any]], intershap: float) -> dict[str, Any]:
    """One architecture's units (dicts of :func:`heldout_unit_test` plus ``"seed"``) combined: ``effect``,
    ``ci``, ``p_value``, ``statistic`` (module docstring)."""
    if not any(t["tested"] for t in tests):
        if any(t.get("few_events") for t in tests):  # nothing testable, not nothing to test
            return {"effect": None, "ci": [None, None], "p_value": None, "statistic": None, "beta": None, "se": None}
        return {"effect": 0.0, "ci": [0.0, 0.0], "p_value": 1.0, "statistic": 0.0, "beta": 0.0, "se": None}
    z_seed, beta_seed, se_seed = [], [], []
    for seed in sorted({t["seed"] for t in tests}):
        mine = [t for t in tests if t["seed"] == seed]
        z_seed.append(sum(t["z"] for t in mine) / np.sqrt(len(mine)))
        tested = [t for t in mine if t["tested"] and t["se"] and np.isfinite(t["se"])]
        if tested:
            w = np.array([1 / t["se"] ** 2 for t in tested])
            beta_seed.append(float(np.sum(w * [t["beta"] for t in tested]) / w.sum()))
            se_seed.append(float(1 / np.sqrt(w.sum())))
    z = float(np.mean(z_seed))
    beta, se = (float(np.mean(beta_seed)), float(np.mean(se_seed))) if beta_seed else (0.0, float("inf"))

    def effect(b: float) -> float:
        b = max(b, 0.0)
        return float(b * intershap / (1 - intershap + b * intershap)) if intershap < 1 else float(b > 0)

    return {"effect": effect(beta), "ci": [effect(beta - 1.96 * se), effect(beta + 1.96 * se)],
            "p_value": float(norm.sf(z)), "statistic": z, "beta": beta, "se": se}


def architecture_tests(units: list[tuple[Any, pd.DataFrame]], cohort: Cohort, intershap: dict[str, float],
                       settings: ExplainSettings) -> dict[str, Any]:
    """``{NAME: {"effect", "ci", "p_value", "statistic", "beta", "se", "units", "method"}}`` for every
    multimodal architecture among the finished ``units``, each given with its ``interactions.csv`` table
    (:func:`~intersurv.interactions.table.read_interactions`); ``intershap`` maps architecture -> pooled
    InterSHAP. Empty unless the audit explains the log-risk."""
    if settings.output != "log_risk" or len(cohort.modality_names) < 2:
        return {}
    scores = principal_scores(cohort.modalities)
    adjust = np.column_stack(list(scores.values()))
    out: dict[str, Any] = {}
    for arch in dict.fromkeys(u.arch for u, _ in units):
        if arch not in intershap or arch == "clinical" or len(model_modalities(arch, cohort.modality_names)) < 2:
            continue
        tests = []
        for u, frame in ((u, f) for u, f in units if u.arch == arch):
            pos = positions(cohort.ids, frame["patient_id"])
            t = heldout_unit_test(frame["output"].to_numpy(), frame["additive"].to_numpy(),
                                  frame["time"].to_numpy(), frame["event"].to_numpy(), adjust[pos],
                                  rng=np.random.default_rng(derive_seed(HELDOUT_TEST, u.seed, u.fold)))
            tests.append({**t, "seed": u.seed, "fold": u.fold})
        out[arch] = {**combine_units(tests, intershap[arch]), "units": len(tests), "method": (
            "held-out Cox Wald test of the model's interaction component (log-risk minus its additive "
            "projection) beside the additive projection and the principal scores, per unit, with a "
            f"parametric-bootstrap p-value ({HELDOUT_REPLICATES} outcome draws from the unit's null model); "
            "Stouffer over folds, mean over seeds, one-sided; effect = InterSHAP of the held-out recalibrated model")}
    return out


def cohort_test(cohort: Cohort, seed: int) -> dict[str, Any] | None:
    """The cohort-level test, estimate and minimum detectable interaction (None for one modality)."""
    if len(cohort.modality_names) < 2:
        return None
    return cohort_interaction(cohort, seed=seed)


def interaction_test_results(units: list[tuple[Any, pd.DataFrame]], cohort: Cohort,
                             architectures: dict[str, Any], settings: ExplainSettings, seed: int) -> dict[str, Any]:
    """``results["interaction_test"]`` (docs/results.md): the cohort-level answer and one per architecture
    (``units``: finished units with their interaction tables; ``architectures`` is
    ``results["architectures"]``, for each one's pooled InterSHAP)."""
    pooled = {name: a["intershap"]["pooled"] for name, a in architectures.items()}
    return {"cohort": cohort_test(cohort, seed),
            "architectures": architecture_tests(units, cohort, pooled, settings)}
