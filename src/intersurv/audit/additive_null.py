"""How much interaction an architecture shows on data that have none: the additive null.

A fitted network can be non-additive where the data are additive
(``docs/validation.md``): its InterSHAP mixes synergy in the data with the
architecture's own bias and estimation noise. The additive null measures the
second part, for one audit unit. With ``f_add`` the unit model's additive
projection on the log-risk scale (``sum_i v({i}) - (M - 1) v(empty)``, the
audit's masker, the unit's training patients as reference), each of R null
cohorts keeps the unit's fitted patients (training and validation part) and
their modalities and draws new outcomes:

* event time from the Cox model with log-risk ``f_add`` and the unit model's
  Breslow baseline ``H0`` (jump times ``t_k``)::

      T = min{ t_k : H0(t_k) exp(f_add) >= E },   E ~ Exp(1)

  (no such t_k: the patient outlives the baseline and is censored);
* censoring time from the reverse Kaplan-Meier estimate ``G`` of the fitted
  patients' censoring (censorings as events; lifelines)::

      C = min{ c_k : G(c_k) <= U },   U ~ Uniform(0, 1)

  (no such c_k: the last follow-up time);
* observed time ``min(T, C)``, event ``1{T <= C}``.

The architecture is refitted on every null cohort with the unit's training
settings (seed ``derive_seed(NULL_REFIT, unit seed, fold, r)`` for null cohort r,
:mod:`intersurv.seeds`; the outcomes are drawn with ``derive_seed(NULL_OUTCOMES,
unit seed, fold)``; the R refits are trained together by
:func:`intersurv.training.batched.fit_batched`) and explained
on the unit's test patients exactly like the unit's model. The truth of a
null cohort is additive by construction, so its InterSHAP is the
architecture's bias plus noise. Reported per unit: the R null InterSHAPs,
their mean and sd, the excess of the unit's InterSHAP over the null mean, and
the Monte-Carlo p-value ``(1 + #{null >= observed - TIE}) / (R + 1)``, where
differences below ``TIE`` (float32 rounding of the models) count as ties, so
that an additive architecture, whose values are all 0 up to rounding, gets
p = 1.
"""

from __future__ import annotations

import logging
import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cohort import Cohort
from ..seeds import NULL_OUTCOMES, NULL_REFIT, derive_seed
from ..survival.outcomes import CensoringCurve, draw_outcomes

#: InterSHAP differences below this are float32 rounding of the models, not evidence.
TIE = 1e-6

log = logging.getLogger("intersurv")

if TYPE_CHECKING:
    from ..interactions.settings import ExplainSettings
    from ..survival import BreslowBaseline
    from ..training.experiment import UnitContext


def draw_additive_null(log_risk: np.ndarray, baseline: "BreslowBaseline", time: np.ndarray, event: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """New (time, event) for patients with ``log_risk``; see the module docstring.

    ``baseline`` gives the event-time distribution, ``time``/``event`` (the
    same patients' observed outcomes) the censoring distribution.
    """
    return draw_outcomes(log_risk, baseline, CensoringCurve.fit(time, event), rng)


def additive_null(ctx: "UnitContext", explain_kw: dict[str, Any], settings: "ExplainSettings",
                  observed: float) -> dict[str, Any]:
    """The unit's additive null (module docstring): ``settings.null_refits`` null InterSHAPs and their
    summary. ``explain_kw`` are the reference, masker, background and seed the unit was explained with."""
    from ..interactions import explain
    from ..training.batched import fit_batched

    refits = settings.null_refits
    fitted = ctx.cohort.subset(ctx.split.train)
    f_add = explain(ctx.model, fitted, output="log_risk", **explain_kw).additive_projection()
    rng = np.random.default_rng(derive_seed(NULL_OUTCOMES, ctx.seed, ctx.fold))
    start = _time.perf_counter()
    censoring = CensoringCurve.fit(fitted.time, fitted.event)
    nulls = []
    for r in range(refits):
        time, event = draw_outcomes(f_add, ctx.model.baseline, censoring, rng)
        nulls.append(Cohort(ids=fitted.ids, time=time, event=event, modalities=fitted.modalities,
                            group=fitted.group, name=f"{ctx.cohort.name} additive null {r + 1}"))
    models = fit_batched(nulls, ctx.arch, [derive_seed(NULL_REFIT, ctx.seed, ctx.fold, r) for r in range(refits)],
                         **ctx.config.train.to_dict())
    values = []
    for model in models:
        exp = explain(model, ctx.test, output=settings.output, aggregation=settings.aggregation, **explain_kw)
        values.append(exp.score())
    arr = np.asarray(values, dtype=np.float64)
    out = {
        "intershap": arr.tolist(),
        "mean": float(arr.mean()),
        "sd": float(arr.std(ddof=1)) if refits > 1 else None,
        "excess": float(observed - arr.mean()),
        "p": float((1 + np.sum(arr >= observed - TIE)) / (refits + 1)),
    }
    log.info("unit %s: additive null of %d refits %.1f %% (InterSHAP %.1f %%, p %.3g), %.1f s", ctx.name, refits,
             100 * out["mean"], 100 * observed, out["p"], _time.perf_counter() - start)
    return out
