"""The audit's per-unit step: explain the unit's test patients once it is trained.

Runs inside :func:`intersurv.training.experiment.run_experiment` for every
(architecture, seed, fold), in whatever process trains the unit. The reference
set of the maskers is the patients the unit's model was fitted on (:func:`training_reference`),
never the test patients being explained. Writes ``interactions.csv`` (one row
per test patient: the :meth:`Explanation.to_frame` columns plus the raw
coalition values ``v:<coalition>``) and returns the unit's interaction numbers
for ``result.json``. With ``null_refits`` > 0 a fusion model also gets its
additive null (:mod:`intersurv.audit.additive_null`). On a simulated cohort
the true log-risk is explained the same way (same patients, same reference,
same masker), so the comparison with the truth is like for like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..io.atomic import write_text_atomic
from ..training.experiment import UnitContext


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
    index = pd.Series(np.arange(ctx.cohort.n_patients), index=ctx.cohort.ids)
    pos = index.loc[list(ctx.model.train_ids)].to_numpy()
    return {m: x[pos] for m, x in ctx.cohort.modalities.items()}


def audit_step(ctx: UnitContext) -> dict[str, Any]:
    from ..interactions import explain, interaction_over_time

    settings = ctx.config.extra["explain"]
    test = ctx.test
    model = OverAllModalities(ctx.model, ctx.cohort.modality_names)
    kw = dict(reference=training_reference(ctx), masker=settings["masker"], background=settings["background"],
              seed=ctx.seed)
    exp = explain(model, test, output=settings["output"], aggregation=settings["aggregation"], **kw)
    frame = exp.to_frame()
    for c, label in enumerate(exp.coalitions):
        frame[f"v:{label}"] = exp.coalition_values[:, c]
    write_text_atomic(ctx.path / "interactions.csv", frame.to_csv(index=False))

    grid = time_grid(ctx.cohort.time, ctx.cohort.event, settings["time_points"])
    curve = (interaction_over_time(model, test, grid, aggregation=settings["aggregation"], **kw)
             if grid else None)
    cost = exp.cost_of_additivity()
    null = None
    if settings.get("null_refits", 0) and len(ctx.model.modalities) > 1:
        from .additive_null import additive_null

        null = additive_null(ctx, kw, settings, exp.score())
    out: dict[str, Any] = {
        "interaction": {
            "intershap": exp.score(),
            "additive_null": null,
            "shares": exp.shares(),
            "variance": exp.variance_decomposition(),
            "c_index": cost["c_index"],
            "additive_c_index": cost["additive_c_index"],
            "truth": None,
        },
        "time_curve": None if curve is None else {
            "times": curve["time"].tolist(), "intershap": curve["intershap"].tolist()},
    }
    if ctx.cohort.truth is not None and "log_risk" in ctx.cohort.truth and settings["output"] in ("log_risk", "risk"):
        from ..datasets.simulate import TrueLogRisk

        true_exp = explain(TrueLogRisk(ctx.cohort.truth), test, output=settings["output"],
                           aggregation=settings["aggregation"], **kw)
        out["interaction"]["truth"] = {"intershap": true_exp.score(), "shares": true_exp.shares()}
    return out
