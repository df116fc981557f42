"""From finished audit units to ``results.json`` and ``patients.csv``.

Spreads are labelled with what they are across: each architecture's numbers
are the mean and sample sd over its units (seeds for hold-out, folds or
seeds x folds for CV). The InterSHAP CI is a percentile bootstrap over test
patients of that mean: each replicate resamples every unit's test patients
and averages the units' scores. The shares and the variance decomposition
and the synergy vs redundancy split (:mod:`intersurv.interactions.synergy`)
are computed on the test rows of all units pooled. The
prognostic analysis uses one row per patient: a patient who was a test patient
in several units gets the mean of their local InterSHAP and log-risk.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..cohort import Cohort
from ..interactions.settings import ExplainSettings
from ..interactions.synergy import share_interval, synergy_summary
from ..interactions.table import FILE_NAME, coalition_values, read_explanation, read_interactions
from ..models import model_cohort
from ..positions import positions
from ..seeds import RESULTS, derive_seed
from ..training.experiment import across_label, summarise
from ..training.config import ExperimentConfig
from ..training.rundir import RunDir, Unit
from .comparisons import comparisons, unit_scores
from .config import explain_settings
from .groups import architecture_groups, group_pair_test
from .interaction_test import interaction_test_results
from .verdict import answer_block, verdict


def _metric_keys(units: list[Unit]) -> list[str]:
    keys: list[str] = []
    for u in units:
        keys += [k for k in u.result["metrics"] if not k.endswith("_ci") and k not in keys and k != "n_bootstrap"]
    return keys


def _mean_score_ci(frames: list[pd.DataFrame], modalities: list[str], settings: ExplainSettings,
                   seed: int) -> list[float]:
    """95 % percentile bootstrap CI of the mean over units of the unit InterSHAP scores
    (``frames``: each unit's interactions.csv). A unit whose model is constant on its test patients (no
    attribution at all, e.g. an elastic net that kept no feature) has no score and is left out, as in
    the mean (:func:`intersurv.training.experiment.summarise`); NaN bounds when no unit has a score."""
    from ..interactions import Explanation
    from ..interactions.aggregation import shares

    n_boot = settings.bootstrap
    if n_boot < 1:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    total, scored = np.zeros(n_boot), 0
    for frame in frames:
        exp = Explanation(coalition_values(frame), modalities, aggregation=settings.aggregation)
        n = exp.n_patients
        weights = np.zeros((n_boot, n))
        np.add.at(weights, (np.arange(n_boot)[:, None], rng.integers(n, size=(n_boot, n))), 1.0)
        draws = shares(exp.matrix, settings.aggregation, shapley=exp.shapley, weights=weights)[:, -1]
        if np.isfinite(draws).any():
            total += draws
            scored += 1
    if not scored:
        return [float("nan"), float("nan")]
    return [float(v) for v in np.nanquantile(total / scored, [0.025, 0.975])]


def _time_curve(units: list[Unit]) -> dict[str, Any] | None:
    curves = [u.result.get("time_curve") for u in units if u.result.get("time_curve")]
    if not curves:
        return None
    values = np.array([c["intershap"] for c in curves], dtype=float)
    per_time = pd.DataFrame(values)  # pandas: NaN (no RuntimeWarning) where a time has < 1 or < 2 values
    return {"times": curves[0]["times"], "intershap": per_time.mean().tolist(),
            "sd": (per_time.std(ddof=1).tolist() if len(values) > 1 else None)}


def _prognostic(cohort: Cohort, rows: pd.DataFrame, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    from ..analysis import prognostic_analysis

    per_patient = rows.groupby("patient_id")[["local_intershap", "log_risk"]].mean()
    pos = positions(cohort.ids, per_patient.index, what="patient")
    covariates = None
    if cohort.covariates is not None and cohort.covariates.shape[1]:
        covariates = cohort.covariates.iloc[pos].reset_index(drop=True)
    local = per_patient["local_intershap"].fillna(0.0).to_numpy()  # NaN: all-zero matrix = no interaction
    return prognostic_analysis(
        local, cohort.time[pos], cohort.event[pos], predicted_log_risk=per_patient["log_risk"].to_numpy(),
        covariates=covariates, group=None if cohort.group is None else cohort.group[pos],
        bootstrap=settings["bootstrap"], permutations=settings["permutations"], seed=seed,
    )


def _patient_rows(unit: Unit, frame: pd.DataFrame, cohort: Cohort, modalities: list[str]) -> pd.DataFrame:
    pos = positions(cohort.ids, frame["patient_id"], what=f"{unit.path / FILE_NAME}: patient")
    rows = pd.DataFrame({
        "arch": unit.arch, "seed": unit.seed, "fold": unit.fold, "patient_id": frame["patient_id"],
        "time": frame["time"], "event": frame["event"],
        "group": cohort.group[pos] if cohort.group is not None else "",
        "log_risk": frame["output"], "local_intershap": frame["local_intershap"],
        "additive_log_risk": frame["additive"],
    })
    for m in modalities:
        rows[f"shapley_{m}"] = frame[f"shapley_{m}"]
    return rows


def _additive_null(units: list[Unit], across: str) -> dict[str, Any] | None:
    """The units' additive nulls (:mod:`intersurv.audit.additive_null`) summarised, or None if not run."""
    nulls = [u.result["interaction"].get("additive_null") for u in units]
    if not nulls or not all(nulls):
        return None
    return {
        "intershap": summarise([n["mean"] for n in nulls], across),
        "excess": summarise([n["excess"] for n in nulls], across),
        "p": [n["p"] for n in nulls],
        "refits": len(nulls[0]["intershap"]),
        "definition": ("InterSHAP of the architecture refitted on outcomes drawn from each unit model's additive "
                       "projection (no interaction), explained like the unit; excess = unit InterSHAP - null mean; "
                       "p = Monte-Carlo p-value per unit"),
    }


def _attention(units: list[Unit]) -> dict[str, Any] | None:
    """Of an attention-MIL architecture, per bag modality: the highest- and lowest-risk test patients over
    all its units, each with its unit and most-attended patches (None for other models)."""
    entries = [(u.name, u.result["attention"]) for u in units if u.result.get("attention")]
    if not entries:
        return None
    out: dict[str, Any] = {}
    for m in entries[0][1]:
        picks = {}
        for role, pick in (("highest", max), ("lowest", min)):
            unit, entry = pick(((n, a[m][role]) for n, a in entries), key=lambda t: t[1]["log_risk"])
            picks[role] = {"unit": unit, **entry}
        out[m] = picks
    return out


def _truth_summary(cohort: Cohort, units: list[Unit], settings: ExplainSettings) -> dict[str, Any] | None:
    truth = cohort.truth
    if truth is None:
        return None
    out: dict[str, Any] = {"masker": settings.masker, "aggregation": settings.aggregation,
                           "output": settings.output, "scenario": truth.get("scenario"),
                           "params": truth.get("params")}
    on_test = [u.result["interaction"]["truth"] for u in units if u.result["interaction"].get("truth")]
    if on_test:
        # the true log-risk explained exactly like each model: same test patients, same reference
        first_arch = units[0].arch
        same = [u.result["interaction"]["truth"] for u in units
                if u.arch == first_arch and u.result["interaction"].get("truth")]
        out["intershap"] = float(np.mean([t["intershap"] for t in same]))
        out["intershap_sd"] = float(np.std([t["intershap"] for t in same], ddof=1)) if len(same) > 1 else None
        out["shares"] = {k: float(np.mean([t["shares"][k] for t in same])) for k in same[0]["shares"]}
        if all("synergy" in t for t in same):  # units written before the decomposition existed lack it
            shares = [t["synergy"]["overall"]["synergy_share"] for t in same]
            out["synergy_share"] = float(np.mean(shares)) if None not in shares else None
        out["definition"] = ("true log-risk explained on each unit's test patients with its training patients "
                             f"as reference; mean across {across_label(units[0].run.config)}")
    if not on_test and truth.get("unit_truth_skipped"):
        out["unit_truth_skipped"] = str(truth["unit_truth_skipped"])
    cohort_level = truth.get("interaction", {}).get(settings.masker)
    if cohort_level:
        out["whole_cohort"] = {"intershap": cohort_level["intershap"].get(settings.aggregation),
                               "shares": cohort_level["shares"].get(settings.aggregation),
                               "synergy": cohort_level.get("synergy")}
        out.setdefault("intershap", out["whole_cohort"]["intershap"])
        out.setdefault("shares", out["whole_cohort"]["shares"])
    return out


def _comparisons(units: list[Unit], config: ExperimentConfig) -> dict[str, Any]:
    """``comparisons`` and ``references`` (:mod:`intersurv.audit.comparisons`) of the finished units."""
    scores = {a: [unit_scores(u) for u in units if u.arch == a] for a in config.architectures}
    table, refs = comparisons({a: s for a, s in scores.items() if s}, config.protocol.kind)
    return {"comparisons": table, "references": refs}


def build_results(run: RunDir, cohort: Cohort) -> tuple[dict[str, Any], pd.DataFrame]:
    """The results dict (schema in docs/results.md) and the per-patient table."""
    config = run.config
    settings = explain_settings(config)
    prog_settings = config.extra["prognostic"]
    seed = derive_seed(RESULTS, *config.seeds)
    modalities = cohort.modality_names
    across = across_label(config)
    units = [u for u in run.units() if u.done]
    archs: dict[str, Any] = {}
    patient_tables = []
    unit_frames = []
    for arch in config.architectures:
        mine = [u for u in units if u.arch == arch]
        if not mine:
            continue
        metrics = {k: summarise([u.result["metrics"].get(k) for u in mine], across) for k in _metric_keys(mine)}
        players = model_cohort(cohort, arch).modality_names  # clinical: + the covariates, when no modality
        frames = [read_interactions(u.path / FILE_NAME, len(players)) for u in mine]
        unit_frames += zip(mine, frames)
        exp = read_explanation(frames, players, settings)
        rows = pd.concat([_patient_rows(u, f, cohort, modalities) for u, f in zip(mine, frames)], ignore_index=True)
        patient_tables.append(rows)
        ci = exp.bootstrap_ci(seed=seed)
        intershap = summarise([u.result["interaction"]["intershap"] for u in mine], across)
        intershap.update(ci=_mean_score_ci(frames, players, settings, seed), pooled=exp.score(),
                         aggregation=settings.aggregation, masker=settings.masker, output=settings.output,
                         ci_method="percentile bootstrap over test patients (within each unit) of the mean")
        archs[arch] = {
            "params": mine[0].result["n_params"],
            "units": len(mine),
            "c_index": metrics.pop("c_harrell"),
            "c_uno": metrics.pop("c_uno"),
            "ibs": metrics.pop("ibs"),
            "brier": {k.split("@", 1)[1]: v for k, v in metrics.items() if k.startswith("brier@")},
            "auc": {k.split("@", 1)[1]: v for k, v in metrics.items() if k.startswith("auc@")},
            "intershap": intershap,
            "shares": exp.shares(),
            "shares_ci": ci["shares"],
            "synergy": {**synergy_summary(exp.mobius, players),
                        "synergy_share_ci": share_interval(exp.mobius, players, settings.bootstrap, seed)},
            "variance": exp.variance_decomposition(),
            "additive_c_index": summarise([u.result["interaction"]["additive_c_index"] for u in mine], across),
            "model_c_index_from_game": summarise([u.result["interaction"]["c_index"] for u in mine], across),
            "additive_null": _additive_null(mine, across),
            "truth_on_test": summarise([(u.result["interaction"].get("truth") or {}).get("intershap")
                                        for u in mine], across),
            "prognostic": _prognostic(cohort, rows, prog_settings, seed),
            "time_curve": _time_curve(mine),
            "groups": (architecture_groups([u.path for u in mine], mine[0].result["groups"]["players"], settings,
                                           seed) if settings.groups is not None else None),
            "attention": _attention(mine),
        }
    proto = config.protocol
    protocol = {"kind": proto.kind, "seeds": list(config.seeds), "val_fraction": config.train.val_fraction,
                "folds": len(proto.fold_ids), **({} if proto.kind == "cv" else {"test_fraction": proto.test_fraction}),
                **settings.to_dict(), "prognostic": prog_settings, "train": config.train.to_dict(),
                "horizons": sorted({h for u in units for h in u.result["horizons"]}),
                "spread": f"mean ± sample sd across {across}"}
    results = {
        "intersurv_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cohort": {"name": cohort.name, "n_patients": cohort.n_patients, "n_events": cohort.n_events,
                   "time_unit": cohort.time_unit, "modalities": cohort.widths(),
                   "missing": {m: int(v.sum()) for m, v in cohort.missing.items()}},
        "protocol": protocol,
        "versions": run.versions,
        "architectures": archs,
        "truth": _truth_summary(cohort, units, settings),
        "interaction_test": interaction_test_results(unit_frames, cohort, archs, settings, seed),
        "group_test": group_pair_test(cohort, settings, seed),
    }
    results.update(_comparisons(units, config))
    results["answer"] = answer_block(results)
    results["verdict"] = verdict(results)
    patients = pd.concat(patient_tables, ignore_index=True) if patient_tables else pd.DataFrame()
    return results, patients
