"""The audit's per-unit step: explain the unit's test patients once it is trained.

Runs inside :func:`intersurv.training.experiment.run_experiment` for every
(architecture, seed, fold), in whatever process trains the unit. The reference
set of the maskers is the patients the unit's model was fitted on (:func:`training_reference`),
never the test patients being explained. Writes ``interactions.csv``
(:mod:`intersurv.interactions.table`: one row per test patient, with the raw
coalition values) and returns the unit's interaction numbers
for ``result.json`` (InterSHAP, shares, synergy vs redundancy of every pair:
:mod:`intersurv.interactions.synergy`); with feature groups it also writes ``interactions_groups.csv``
(:mod:`intersurv.audit.groups`). With ``null_refits`` > 0 a fusion model also gets its
additive null (:mod:`intersurv.audit.additive_null`). On a simulated cohort
the true log-risk is explained the same way (same patients, same reference,
same masker, same derived seed), so the comparison with the truth is like for like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..interactions.settings import ExplainSettings
from ..interactions.synergy import synergy_summary
from ..interactions.table import FILE_NAME, write_interactions
from ..positions import positions
from ..seeds import EXPLAIN, derive_seed
from ..training.experiment import UnitContext
from .config import explain_settings


def time_grid(time: np.ndarray, event: np.ndarray, n_points: int) -> list[float]:
    """``n_points`` times at the 10 %..90 % quantiles of the cohort's event times."""
    if n_points == 0:
        return []
    return [float(t) for t in np.unique(np.quantile(time[event == 1], np.linspace(0.1, 0.9, n_points)))]


@dataclass(frozen=True)
class OverAllModalities:
    """A fitted model seen as a function of every modality of the cohort.

    A unimodal model reads one modality; explained over all of them it shows
    the other modalities' zero share and zero interaction, like a fusion model.
    """

    model: Any
    modalities: list[str]

    @property
    def baseline(self) -> Any:
        return self.model.baseline

    def __call__(self, X: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.predict_log_risk(X)


def training_reference(ctx: UnitContext) -> dict[str, np.ndarray]:
    """Every modality of the patients the unit's model was fitted on (its ``train_ids``)."""
    pos = positions(ctx.cohort.ids, ctx.model.train_ids, what="training patient")
    return {m: x[pos] for m, x in ctx.cohort.modalities.items()}


def explain_kwargs(ctx: UnitContext, settings: ExplainSettings) -> dict[str, Any]:
    """How every model of the unit is explained: its reference set, masker, K and derived seed."""
    return dict(reference=training_reference(ctx), masker=settings.masker, background=settings.background,
                seed=derive_seed(EXPLAIN, ctx.seed, ctx.fold))


def audit_step(ctx: UnitContext) -> dict[str, Any]:
    from ..interactions import explain, interaction_over_time

    settings = explain_settings(ctx.config)
    test = ctx.test
    model = OverAllModalities(ctx.model, ctx.cohort.modality_names)
    kw = explain_kwargs(ctx, settings)
    exp = explain(model, test, output=settings.output, aggregation=settings.aggregation, **kw)
    write_interactions(ctx.path / FILE_NAME, exp)

    grid = time_grid(ctx.cohort.time, ctx.cohort.event, settings.time_points)
    curve = (interaction_over_time(model, test, grid, aggregation=settings.aggregation, **kw)
             if grid else None)
    cost = exp.cost_of_additivity()
    null = None
    if settings.null_refits and len(ctx.model.modalities) > 1:
        from .additive_null import additive_null

        null = additive_null(ctx, kw, settings, exp.score())
    out: dict[str, Any] = {
        "interaction": {
            "intershap": exp.score(),
            "additive_null": null,
            "shares": exp.shares(),
            "synergy": synergy_summary(exp.mobius, exp.modalities),
            "variance": exp.variance_decomposition(),
            "c_index": cost["c_index"],
            "additive_c_index": cost["additive_c_index"],
            "truth": None,
        },
        "time_curve": None if curve is None else {
            "times": curve["time"].tolist(), "intershap": curve["intershap"].tolist()},
    }
    if settings.groups is not None:
        from .groups import explain_groups

        out["groups"] = explain_groups(model, test, settings, kw, ctx.path)
    if ctx.cohort.truth is not None and "log_risk" in ctx.cohort.truth and settings.output in ("log_risk", "risk"):
        from ..datasets.truth import TrueLogRisk

        true_exp = explain(TrueLogRisk(ctx.cohort.truth), test, output=settings.output,
                           aggregation=settings.aggregation, **kw)
        out["interaction"]["truth"] = {"intershap": true_exp.score(), "shares": true_exp.shares(),
                                       "synergy": synergy_summary(true_exp.mobius, true_exp.modalities)}
    return out
