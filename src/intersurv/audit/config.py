"""The audit's configuration: an experiment config plus explain and prognostic settings.

Every option has a default; a TOML file (``--config``) may set any of them.
Its keys are those of :class:`intersurv.training.config.ExperimentConfig`
(see ``intersurv train --help``) plus two tables::

    cohort = "glioma-sim"
    architectures = ["unimodal", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
    seeds = [0, 1, 2, 3, 4]
    [protocol]                # default: see default_protocol (cv up to 1,000 patients)
    kind = "holdout"          # or "cv" (then folds = 5)
    test_fraction = 0.2
    [train]                   # keyword arguments of intersurv.fit
    max_epochs = 1000
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
    groups = "groups.toml"    # feature groups explained as players besides the modalities: a
                              # TOML/GMT file or builtin:tcga-genes=EGFR,... (intersurv.interactions.groups)
    group_test = ["EGFR", "CDKN2A"]  # two players of groups for the cohort-level interaction test

    [prognostic]
    bootstrap = 200
    permutations = 200

``"unimodal"`` and ``"linear"`` in ``architectures`` expand to
``unimodal:<m>`` / ``linear:<m>`` for every modality; by default the linear
reference models are included, and ``clinical`` (linear Cox on the
covariates) when the cohort has its covariates as modality ``clinical``
(``covariates_as_modality`` in cohort.toml; the fusion models then use them
too) or has numeric covariates with a value for every patient (then only the
``clinical`` model reads them: :func:`intersurv.models.model_cohort`). The defaults and checks of
``[train]`` are those of :class:`intersurv.training.settings.TrainSettings`, of
``[explain]`` those of :class:`intersurv.interactions.settings.ExplainSettings`
(the values above are the defaults). The explain and prognostic settings are
stored, every default resolved, in the experiment config's ``extra``, so a run
directory records them and resumes only with them.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..cohort import Cohort
from ..errors import IntersurvError
from ..interactions.groups import read_groups, resolve_players
from ..interactions.settings import ExplainSettings
from ..models import CLINICAL_MODALITY, clinical_reads_covariates, expand_architectures
from ..training.config import ExperimentConfig

DEFAULT_ARCHITECTURES = ["unimodal", "linear", "clinical", "early", "late", "cross_attention", "bilinear", "gated",
                         "kronecker"]
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
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


def _prognostic(data: dict[str, Any], source: str) -> dict[str, Any]:
    given = data.pop("prognostic", {})
    if not isinstance(given, dict):
        raise IntersurvError(f"{source}: [prognostic] must be a table")
    unknown = sorted(set(given) - set(PROGNOSTIC_DEFAULTS))
    if unknown:
        raise IntersurvError(f"{source}: unknown key prognostic.{unknown[0]} "
                             f"(known: {', '.join(PROGNOSTIC_DEFAULTS)})")
    out = {**PROGNOSTIC_DEFAULTS, **given}
    for key, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise IntersurvError(f"{source}: prognostic.{key} must be an integer >= 0, not {value!r}")
    return out


def _explain_table(given: Any, modalities: list[str], feature_names: Mapping[str, list[str]] | None,
                   widths: Mapping[str, int] | None, source: str) -> ExplainSettings:
    """The ``[explain]`` settings; a ``groups`` file or built-in name is read, and checked against the
    cohort's columns when they are known (``feature_names`` and ``widths``)."""
    given = dict(given) if isinstance(given, dict) else given
    spec = given.get("groups") if isinstance(given, dict) else None
    if isinstance(spec, str):
        given["groups"] = read_groups(spec, feature_names)
    explain = ExplainSettings.from_dict(given, source=f"{source}: [explain]")
    explain.check_modalities(len(modalities))
    if explain.groups is not None and widths is not None:
        players = resolve_players(explain.groups, feature_names or {}, {m: widths[m] for m in modalities},
                                  source=spec if isinstance(spec, str) else f"{source}: [explain] groups")
        explain.check_modalities(len(players))
        unknown = [g for g in explain.group_test or [] if g not in [p.name for p in players]]
        if unknown:
            raise IntersurvError(f"{source}: group_test: {unknown[0]!r} is not a player of the groups "
                                 f"({', '.join(p.name for p in players)})")
    return explain


def audit_config(data: dict[str, Any], modalities: list[str], *, source: str = "options",
                 n_patients: int | None = None, covariates: bool = False,
                 feature_names: Mapping[str, list[str]] | None = None,
                 widths: Mapping[str, int] | None = None) -> ExperimentConfig:
    """The experiment config of an audit from a (TOML-shaped) dict and the cohort's modalities
    (``n_patients``: the cohort's size, which picks the default protocol; ``covariates``: whether the
    ``clinical`` model can read the cohort's covariates without a ``clinical`` modality,
    :func:`intersurv.models.clinical_reads_covariates`; ``feature_names`` and ``widths``: the cohort's
    columns, against which feature groups are checked)."""
    data = dict(data)
    if isinstance(data.get("protocol", {}), dict):
        data["protocol"] = default_protocol(dict(data.get("protocol", {})), n_patients)
    mods = list(data.get("modalities") or modalities)
    if len(mods) < 2:
        raise IntersurvError(f"{source}: the audit needs at least 2 modalities, the cohort has {mods}")
    explain = _explain_table(data.pop("explain", {}), mods, feature_names, widths, source)
    prognostic = _prognostic(data, source)
    given = data.get("architectures")
    clinical = CLINICAL_MODALITY in mods or covariates
    if given and "clinical" in given and not clinical:
        raise IntersurvError(f"{source}: architecture 'clinical' needs numeric covariates with a value for every "
                             f"patient, or the covariates as modality {CLINICAL_MODALITY!r}")
    names = list(given or [a for a in DEFAULT_ARCHITECTURES if a != "clinical" or clinical])
    data["architectures"] = expand_architectures(names, mods)
    data.setdefault("seeds", list(DEFAULT_SEEDS))
    data["extra"] = {"explain": explain.to_dict(), "prognostic": prognostic}
    return ExperimentConfig.from_dict(data, source=source)


def explain_settings(config: ExperimentConfig) -> ExplainSettings:
    """The explanation settings an audit's config records (``extra["explain"]``)."""
    return ExplainSettings.from_dict(config.extra["explain"], source="config.json: [explain]")


def cohort_audit_config(data: dict[str, Any], cohort: Cohort, *, source: str = "options") -> ExperimentConfig:
    """:func:`audit_config` for ``cohort``: its modalities (or ``data["modalities"]``), size, covariates
    and columns."""
    return audit_config(data, list(data.get("modalities") or cohort.modality_names), source=source,
                        n_patients=cohort.n_patients, covariates=clinical_reads_covariates(cohort),
                        feature_names=cohort.feature_names, widths=cohort.widths())
