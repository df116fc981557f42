"""Feature groups in the audit: each unit's group explanation and ``results.json`` ``groups``.

With ``[explain] groups`` (``--groups FILE``), every unit's model (fusion,
unimodal, linear and clinical alike, seen over all modalities) is explained a
second time with the groups as players (:mod:`intersurv.interactions.groups`;
same test patients, reference set, masker and derived seed as the modality
explanation), written to ``interactions_groups.csv`` in the unit directory
(format of :mod:`intersurv.interactions.table`). The results pool each
architecture's test rows: the group x group share matrix
(:meth:`~intersurv.interactions.Explanation.share_matrix`) and the top
interacting pairs with percentile bootstrap intervals over the pooled test
patients (:meth:`~intersurv.interactions.Explanation.top_pairs`). With
``group_test`` the cohort-level additivity test is run on the two groups'
columns (:func:`group_pair_test`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cohort import Cohort
from ..interactions.settings import ExplainSettings
from ..interactions.table import read_explanation, read_interactions, write_interactions

#: The per-unit file of the group explanation.
GROUPS_FILE = "interactions_groups.csv"
#: Pairs listed per architecture.
TOP_PAIRS = 10


def explain_groups(model: Any, test: Cohort, settings: ExplainSettings, kw: dict[str, Any], path: Path) -> dict:
    """Explain ``model`` on ``test`` with the settings' groups as players; write ``path / GROUPS_FILE``;
    return the unit's ``{"players", "intershap"}``."""
    from ..interactions import explain

    exp = explain(model, test, output=settings.output, aggregation=settings.aggregation, groups=settings.groups,
                  **kw)
    write_interactions(path / GROUPS_FILE, exp)
    return {"players": exp.players, "intershap": exp.score()}


def architecture_groups(unit_paths: list[Path], players: list[str], settings: ExplainSettings,
                        seed: int) -> dict[str, Any]:
    """``results["architectures"][arch]["groups"]``: the pooled group explanation of the units."""
    frames = [read_interactions(p / GROUPS_FILE, len(players)) for p in unit_paths]
    exp = read_explanation(frames, players, settings)
    n_boot = settings.bootstrap
    ci = exp.bootstrap_ci(n_boot=n_boot, seed=seed)["intershap"] if n_boot else None
    return {
        "players": players,
        "intershap": exp.score(),
        "intershap_ci": ci,
        "share_matrix": np.round(exp.share_matrix(), 12).tolist(),
        "top_pairs": exp.top_pairs(TOP_PAIRS, n_boot=n_boot, seed=seed),
    }


def group_cohort(cohort: Cohort, settings: ExplainSettings, players: list[Any]) -> Cohort:
    """The cohort with two modalities, the columns of the two ``group_test`` players."""
    by_name = {p.name: p for p in players}
    arrays, names = {}, {}
    for g in settings.group_test or []:
        cols = by_name[g].columns
        arrays[g] = np.column_stack([cohort.modalities[m][:, idx] for m, idx in cols.items()])
        names[g] = [f"{m}:{(cohort.feature_names.get(m) or list(range(cohort.widths()[m])))[i]}"
                    for m, idx in cols.items() for i in idx]
    return Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=arrays, feature_names=names,
                  time_unit=cohort.time_unit, name=f"{cohort.name} ({' x '.join(arrays)})")


def group_pair_test(cohort: Cohort, settings: ExplainSettings, seed: int) -> dict[str, Any] | None:
    """The cohort-level additivity test (:func:`~intersurv.interactions.additivity_test.cohort_interaction`)
    with the two ``group_test`` players' columns as its two modalities, or None without ``group_test``.

    H0: the log-hazard given the two groups' columns is additive across the two groups (the other
    columns are left out of the model, not adjusted for). Only the test is reported (``p_value`` and its
    statistic; no estimate or interval: their coverage was not measured for groups); its type-I error and
    power on simulated cohorts are in docs/validation.md and in ``calibration``.
    """
    if not settings.group_test or settings.groups is None:
        return None
    from ..interactions.additivity_test import cohort_interaction
    from ..interactions.groups import resolve_players

    players = resolve_players(settings.groups, cohort.feature_names, cohort.widths())
    r = cohort_interaction(group_cohort(cohort, settings, players), ci_replicates=0, planted_replicates=0,
                           seed=seed)
    keep = ("p_value", "statistic", "df", "p_chi2", "alpha", "components", "patients", "null_replicates", "skipped")
    out = {k: r[k] for k in keep if k in r}
    a, b = settings.group_test
    out.update(groups=[a, b], calibration=CALIBRATION,
               hypothesis=f"no interaction between the columns of {a} and {b} (the log-hazard given those "
                          "columns is additive across the two groups; the other columns are not adjusted for)",
               method="score test of the cross-group products of per-group principal components, parametric-"
                      "bootstrap p-value from the fitted additive model (intersurv.interactions.additivity_test)")
    return out


#: The group-pair test's measured type-I error and power (validation/group_test.py, docs/validation.md).
CALIBRATION = ("type-I error at the 5 % level 9/200 = 4.5 % [2.1, 8.4] on 200 simulated null cohorts of two designs "
               "(glioma-sim without interaction and additive-sim); power 49/50 at interaction 0.3 (docs/validation.md)")
