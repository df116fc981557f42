"""The audit's configuration: an experiment config plus explain and prognostic settings.

Every option has a default; a TOML file (``--config``) may set any of them.
Its keys are those of :class:`intersurv.training.rundir.ExperimentConfig`
(see ``intersurv train --help``) plus two tables::

    cohort = "glioma-sim"
    architectures = ["unimodal", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
    seeds = [0, 1, 2, 3, 4]
    [protocol]                # default: see default_protocol (cv up to 1,000 patients)
    kind = "holdout"          # or "cv" (then folds = 5)
    test_fraction = 0.2
    [train]                   # keyword arguments of intersurv.fit
    max_epochs = 200
    reduce = "none"           # "auto": principal components of modalities wider than the
                              # training part; an integer: that many components

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

``"unimodal"`` in ``architectures`` expands to ``unimodal:<m>`` for every
modality. The explain and prognostic settings are stored in the experiment
config's ``extra``, so a run directory records them and resumes only with them.
"""

from __future__ import annotations

from typing import Any

from ..errors import IntersurvError
from ..training.rundir import ExperimentConfig

DEFAULT_ARCHITECTURES = ["unimodal", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
EXPLAIN_DEFAULTS: dict[str, Any] = {
    "masker": "mean", "output": "log_risk", "aggregation": "abs", "background": 100, "bootstrap": 200,
    "time_points": 9, "null_refits": 0,
}
PROGNOSTIC_DEFAULTS: dict[str, Any] = {"bootstrap": 200, "permutations": 200}
#: Cohorts up to this size default to repeated stratified k-fold CV, larger ones to hold-out.
CV_MAX_PATIENTS = 1000
CV_DEFAULT_FOLDS = 5


def default_protocol(protocol: dict[str, Any], n_patients: int | None) -> dict[str, Any]:
    """The protocol table with ``kind`` filled in when it is not given.

    ``folds`` alone means CV, ``test_fraction`` alone hold-out; with neither,
    cohorts of up to :data:`CV_MAX_PATIENTS` patients get stratified
    ``CV_DEFAULT_FOLDS``-fold CV per seed (every patient is tested once per seed,
    and the paired comparisons get seeds x folds units), larger cohorts the 80/20
    hold-out. ``n_patients`` None keeps :class:`ProtocolConfig`'s default.
    """
    if "kind" in protocol:
        return protocol
    if "folds" in protocol:
        return {**protocol, "kind": "cv"}
    if "test_fraction" in protocol or n_patients is None:
        return {**protocol, "kind": "holdout"}
    if n_patients <= CV_MAX_PATIENTS:
        return {**protocol, "kind": "cv", "folds": CV_DEFAULT_FOLDS}
    return {**protocol, "kind": "holdout"}


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


def audit_config(data: dict[str, Any], modalities: list[str], *, source: str = "options",
                 n_patients: int | None = None) -> ExperimentConfig:
    """The experiment config of an audit from a (TOML-shaped) dict and the cohort's modalities
    (``n_patients``: the cohort's size, which picks the default protocol)."""
    data = dict(data)
    if isinstance(data.get("protocol", {}), dict):
        data["protocol"] = default_protocol(dict(data.get("protocol", {})), n_patients)
    explain = _section(data, "explain", EXPLAIN_DEFAULTS, source)
    prognostic = _section(data, "prognostic", PROGNOSTIC_DEFAULTS, source)
    mods = list(data.get("modalities") or modalities)
    if len(mods) < 2:
        raise IntersurvError(f"{source}: the audit needs at least 2 modalities, the cohort has {mods}")
    _check_explain(explain, len(mods), source)
    archs: list[str] = []
    for a in data.get("architectures") or DEFAULT_ARCHITECTURES:
        archs += [f"unimodal:{m}" for m in mods] if a == "unimodal" else [a]
    data["architectures"] = archs
    data.setdefault("seeds", list(DEFAULT_SEEDS))
    data["extra"] = {"explain": explain, "prognostic": prognostic}
    return ExperimentConfig.from_dict(data, source=source)
