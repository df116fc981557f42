"""The audit's configuration: an experiment config plus explain and prognostic settings.

Every option has a default; a TOML file (``--config``) may set any of them.
Its keys are those of :class:`intersurv.training.rundir.ExperimentConfig`
(see ``intersurv train --help``) plus two tables::

    cohort = "glioma-sim"
    architectures = ["unimodal", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
    seeds = [0, 1, 2, 3, 4]
    [protocol]
    kind = "holdout"          # or "cv" (then folds = 5)
    test_fraction = 0.2
    [train]                   # keyword arguments of intersurv.fit
    max_epochs = 200
    reduce = "none"           # "auto": principal components of modalities wider than the
                              # training part; an integer: that many components
    transform = "rank_normal" # or "standardize", "clip"; or a table [train.transform] per modality

    [explain]
    masker = "mean"           # mean | zero | marginal | shuffle
    output = "log_risk"       # log_risk | risk | survival@<t> | rmst@<tau>
    aggregation = "abs"       # abs | paper | local_mean | swift2026
    background = 100          # K reference patients (marginal masker)
    bootstrap = 200           # resamples of test patients for the InterSHAP CI
    time_points = 9           # grid of the time-dependent interaction curve
    null_refits = 0           # refits per unit on outcomes drawn without interaction (the
                              # additive null, intersurv.audit.additive_null); 0 = off

    [prognostic]
    bootstrap = 200
    permutations = 200

``"unimodal"`` and ``"linear"`` in ``architectures`` expand to
``unimodal:<m>`` / ``linear:<m>`` for every modality; by default the linear
reference models are included, and ``clinical`` (linear Cox on the
covariates) when the cohort has its covariates as modality ``clinical``
(``covariates_as_modality`` in cohort.toml). The explain and prognostic settings are stored in the experiment
config's ``extra``, so a run directory records them and resumes only with them.
"""

from __future__ import annotations

from typing import Any

from ..errors import IntersurvError
from ..models import CLINICAL_MODALITY, expand_architectures
from ..training.rundir import ExperimentConfig

DEFAULT_ARCHITECTURES = ["unimodal", "linear", "clinical", "early", "late", "cross_attention", "bilinear", "gated",
                         "kronecker"]
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
EXPLAIN_DEFAULTS: dict[str, Any] = {
    "masker": "mean", "output": "log_risk", "aggregation": "abs", "background": 100, "bootstrap": 200,
    "time_points": 9, "null_refits": 0,
}
PROGNOSTIC_DEFAULTS: dict[str, Any] = {"bootstrap": 200, "permutations": 200}


def _section(data: dict[str, Any], name: str, defaults: dict[str, Any], source: str) -> dict[str, Any]:
    given = data.pop(name, {})
    if not isinstance(given, dict):
        raise IntersurvError(f"{source}: [{name}] must be a table")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise IntersurvError(f"{source}: unknown key {name}.{unknown[0]} (known: {', '.join(defaults)})")
    return {**defaults, **given}


def _check_explain(settings: dict[str, Any], n_modalities: int, source: str) -> None:
    from ..interactions import AGGREGATIONS, MASKERS
    from ..interactions.aggregation import check_aggregation
    from ..interactions.outputs import parse_output

    if settings["masker"] not in MASKERS:
        raise IntersurvError(f"{source}: explain.masker {settings['masker']!r} is not one of {', '.join(MASKERS)}")
    if settings["aggregation"] not in AGGREGATIONS:
        raise IntersurvError(
            f"{source}: explain.aggregation {settings['aggregation']!r} is not one of {', '.join(AGGREGATIONS)}")
    check_aggregation(settings["aggregation"], n_modalities)
    parse_output(settings["output"])
    for key in ("background", "bootstrap", "time_points", "null_refits"):
        if not isinstance(settings[key], int) or settings[key] < 0:
            raise IntersurvError(f"{source}: explain.{key} must be an integer >= 0, not {settings[key]!r}")


def audit_config(data: dict[str, Any], modalities: list[str], *, source: str = "options") -> ExperimentConfig:
    """The experiment config of an audit from a (TOML-shaped) dict and the cohort's modalities."""
    data = dict(data)
    explain = _section(data, "explain", EXPLAIN_DEFAULTS, source)
    prognostic = _section(data, "prognostic", PROGNOSTIC_DEFAULTS, source)
    mods = list(data.get("modalities") or modalities)
    if len(mods) < 2:
        raise IntersurvError(f"{source}: the audit needs at least 2 modalities, the cohort has {mods}")
    _check_explain(explain, len(mods), source)
    given = data.get("architectures")
    if given and "clinical" in given and CLINICAL_MODALITY not in mods:
        raise IntersurvError(f"{source}: architecture 'clinical' needs the covariates as modality "
                             f"{CLINICAL_MODALITY!r} (set covariates_as_modality in cohort.toml)")
    names = list(given or [a for a in DEFAULT_ARCHITECTURES if a != "clinical" or CLINICAL_MODALITY in mods])
    data["architectures"] = expand_architectures(names, mods)
    data.setdefault("seeds", list(DEFAULT_SEEDS))
    data["extra"] = {"explain": explain, "prognostic": prognostic}
    return ExperimentConfig.from_dict(data, source=source)
