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

An attention-MIL model is explained through its head, the bag modality being
the player that holds its embedding (:mod:`intersurv.interactions.encoded`:
test patients and reference encoded with the unit's model); the additive null
is not computed for it (its refits would retrain the encoders R times). Its
unit result adds ``attention``: the most-attended patches of the highest- and
lowest-risk test patients (from the unit's ``attention.parquet``).
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


#: Patches listed per patient in a unit's ``attention`` summary.
TOP_PATCHES = 5


def explained(ctx: UnitContext, kw: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """What the unit's model is explained as: (model callable, test patients, explain keywords).

    A tabular model: :class:`OverAllModalities` on the test cohort with ``kw``; an attention-MIL
    model: its :class:`~intersurv.interactions.encoded.EncodedHead` on the encoded test patients,
    with the encoded training patients as reference.
    """
    from ..training.mil_fit import MILFittedModel

    names = ctx.cohort.modality_names
    if not isinstance(ctx.model, MILFittedModel):
        return OverAllModalities(ctx.model, names), ctx.test, kw
    from ..interactions.encoded import encoded_game

    train = ctx.cohort.subset(positions(ctx.cohort.ids, ctx.model.train_ids, what="training patient"))
    head, test, reference = encoded_game(ctx.model, ctx.test, train, names)
    return head, test, {**kw, "reference": reference}


def attention_summary(ctx: UnitContext) -> dict[str, Any]:
    """Per bag modality, for the highest- and lowest-risk test patients: their log-risk and their
    :data:`TOP_PATCHES` most-attended patches (index, weight, level-0 x and y, slide)."""
    import pandas as pd

    from ..training.mil_fit import ATTENTION_FILE

    table = pd.read_parquet(ctx.path / ATTENTION_FILE)
    risk = dict(zip(ctx.test.ids, ctx.test_log_risk))
    out: dict[str, Any] = {}
    for m, rows in table.groupby("modality", sort=False):
        entry = {}
        for role, pick in (("highest", max), ("lowest", min)):
            patient = pick(rows["patient_id"].unique(), key=risk.__getitem__)
            top = rows[rows["patient_id"] == patient].nlargest(TOP_PATCHES, "weight")
            entry[role] = {"patient_id": str(patient), "log_risk": float(risk[patient]), "patches": [
                {"patch": int(r.patch), "weight": float(r.weight),
                 "x": None if pd.isna(r.x) else float(r.x), "y": None if pd.isna(r.y) else float(r.y),
                 "slide": str(r.slide)} for r in top.itertuples()]}
        out[str(m)] = entry
    return out


def explain_kwargs(ctx: UnitContext, settings: ExplainSettings) -> dict[str, Any]:
    """How every model of the unit is explained: its reference set, masker, K and derived seed."""
    return dict(reference=training_reference(ctx), masker=settings.masker, background=settings.background,
                seed=derive_seed(EXPLAIN, ctx.seed, ctx.fold))


def audit_step(ctx: UnitContext) -> dict[str, Any]:
    from ..interactions import explain, interaction_over_time

    settings = explain_settings(ctx.config)
    from ..training.mil_fit import MILFittedModel

    mil = isinstance(ctx.model, MILFittedModel)
    kw = explain_kwargs(ctx, settings)
    model, test, model_kw = explained(ctx, kw)
    exp = explain(model, test, output=settings.output, aggregation=settings.aggregation, **model_kw)
    write_interactions(ctx.path / FILE_NAME, exp)

    grid = time_grid(ctx.cohort.time, ctx.cohort.event, settings.time_points)
    curve = (interaction_over_time(model, test, grid, aggregation=settings.aggregation, **model_kw)
             if grid else None)
    cost = exp.cost_of_additivity()
    null = None
    if settings.null_refits and len(ctx.model.modalities) > 1 and not mil:
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

        out["groups"] = explain_groups(model, test, settings, model_kw, ctx.path)
    if ctx.cohort.truth is not None and "log_risk" in ctx.cohort.truth and settings.output in ("log_risk", "risk"):
        from ..datasets.truth import TrueLogRisk

        true_exp = explain(TrueLogRisk(ctx.cohort.truth), ctx.test, output=settings.output,
                           aggregation=settings.aggregation, **kw)
        out["interaction"]["truth"] = {"intershap": true_exp.score(), "shares": true_exp.shares(),
                                       "synergy": synergy_summary(true_exp.mobius, true_exp.modalities)}
    if mil:
        out["attention"] = attention_summary(ctx)
    return out
