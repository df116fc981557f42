"""``study.json``: the combined answer of a study, from each cohort's ``results.json``.

Pure: per-cohort results in, one JSON-able dict out (schema in docs/results.md).
Per cohort: the best fusion model (highest mean Harrell C among the fusion
architectures: a selection on the test folds, so its differences are slightly
optimistic), its paired ΔC against late fusion, the clinical reference and the
best unimodal model (``results["comparisons"]``), the cohort interaction test
and the cohort's size. Across cohorts, per reference and fusion architecture:
the DerSimonian-Laird random-effects pool of the cohorts' ΔC with the modified
Hartung-Knapp interval (:func:`intersurv.audit.meta.random_effects`; each cohort's standard error from
its corrected resampled t interval, :func:`intersurv.audit.meta.se_from_interval`)
and Holm's adjustment of the per-cohort p-values over the family of cohorts ×
fusion architectures compared with that reference.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..audit.comparisons import UNIMODAL_PREFIXES
from ..audit.meta import ADJUSTMENT, holm, random_effects, se_from_interval
from ..audit.verdict import classify

#: The references a study pools against, in report order.
REFERENCES = ("late", "clinical", "best_unimodal")

SE_METHOD = ("each cohort's standard error from its 95 % corrected resampled t interval: se = (high - low) / "
             "(2 t_{0.975, df}); the meta-analysis treats it as known (normal), which ignores that it was "
             "estimated from df + 1 unit differences, so the pooled interval is somewhat too narrow when "
             "cohorts have few units")
POOL_METHOD = ("DerSimonian-Laird random-effects meta-analysis of the per-cohort paired ΔC with the modified "
               "Hartung-Knapp 95 % interval (t on K - 1 df, its variance factor never below 1; the normal interval, "
               "kept as 'normal', covered the mean difference too rarely on simulated studies whose cohorts "
               "differ); tau2 = between-cohort variance of the true ΔC, I2 = share of the spread beyond "
               "within-cohort error, Q = Cochran's heterogeneity statistic")
#: Family-wise level of the adjusted verdicts.
ALPHA = 0.05

ADJUST_METHOD = ("Holm step-down adjustment (family-wise error rate) of the per-cohort two-sided p-values, one "
                 "family per reference: every cohort x fusion architecture compared with it")


def fusion_architectures(results: Mapping[str, Any]) -> list[str]:
    """Architectures that fuse modalities: not unimodal/linear, not late fusion, not the clinical model."""
    return [a for a in (results.get("architectures") or {})
            if not a.startswith(UNIMODAL_PREFIXES) and a not in ("late", "clinical")]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _entry(results: Mapping[str, Any], arch: str, ref: str) -> dict[str, Any] | None:
    entry = ((results.get("comparisons") or {}).get(arch) or {}).get(ref)
    if not entry:
        return None
    return {"ref_arch": entry.get("ref_arch"), "delta_c": entry.get("delta_c"), "ci": entry.get("ci"),
            "df": entry.get("df"), "p_value": entry.get("p_value"), "verdict": classify(entry),
            "se": se_from_interval(entry.get("ci") or [None, None], entry.get("df"))}


def _interaction(results: Mapping[str, Any]) -> dict[str, Any] | None:
    test = (results.get("interaction_test") or {}).get("cohort")
    if not test:
        return None
    return {k: test.get(k) for k in ("detected", "p_value", "estimate", "ci", "minimum_detectable", "alpha", "skipped")}


def _best(results: Mapping[str, Any]) -> str | None:
    archs = results.get("architectures") or {}
    means = {a: ((archs[a] or {}).get("c_index") or {}).get("mean") for a in fusion_architectures(results)}
    means = {a: m for a, m in means.items() if _finite(m)}
    return max(means, key=means.__getitem__) if means else None


def _cohort_row(name: str, run_dir: str, results: Mapping[str, Any]) -> dict[str, Any]:
    c = results.get("cohort") or {}
    proto = results.get("protocol") or {}
    best = _best(results)
    c_index = (((results.get("architectures") or {}).get(best) or {}).get("c_index") or {}) if best else {}
    return {
        "name": name, "run_dir": run_dir, "n_patients": c.get("n_patients"), "n_events": c.get("n_events"),
        "modalities": c.get("modalities"),
        "protocol": {"kind": proto.get("kind"), "folds": proto.get("folds"), "seeds": proto.get("seeds")},
        "best": None if best is None else {
            "arch": best, "c_index": c_index.get("mean"), "c_index_sd": c_index.get("sd"),
            "versus": {ref: e for ref in REFERENCES if (e := _entry(results, best, ref)) is not None}},
        "interaction": _interaction(results),
        "verdict": list(results.get("verdict") or []),
    }


def _pool(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Random-effects pool of (cohort, entry) rows, or ``skipped`` saying why not."""
    usable = [(n, e) for n, e in rows if _finite(e["delta_c"]) and _finite(e["se"]) and e["se"] > 0]
    left_out = [n for n, _ in rows if n not in {m for m, _ in usable}]
    if len(usable) < 2:
        why = "fewer than 2 cohorts with an interval" + (f" (no usable interval: {', '.join(left_out)})"
                                                          if left_out else "")
        return {"skipped": why, "cohorts": [n for n, _ in usable], "left_out": left_out}
    pooled = random_effects([e["delta_c"] for _, e in usable], [e["se"] ** 2 for _, e in usable])
    return {**pooled, "cohorts": [n for n, _ in usable], "left_out": left_out,
            "min_df": min(int(e["df"]) for _, e in usable)}


def adjusted_verdict(entry: Mapping[str, Any]) -> str:
    """The comparison's ``verdict`` where its Holm-adjusted p-value is at most :data:`ALPHA`, else
    ``"not distinguishable"`` (also without an adjusted p-value)."""
    p = entry.get("p_adjusted")
    return entry["verdict"] if _finite(p) and p <= ALPHA else "not distinguishable"


def study_summary(cohorts: Mapping[str, tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The study dict (``study.json``) from ``{cohort name: (run directory relative to the study,
    results)}``, in the cohorts' order."""
    rows = [_cohort_row(name, run_dir, res) for name, (run_dir, res) in cohorts.items()]
    archs: list[str] = []
    for _, res in cohorts.values():
        archs += [a for a in fusion_architectures(res) if a not in archs]
    comparisons: dict[str, dict[str, dict[str, Any]]] = {}
    pooled: dict[str, dict[str, Any]] = {}
    for ref in REFERENCES:
        table = {a: {n: e for n, (_, res) in cohorts.items() if (e := _entry(res, a, ref)) is not None}
                 for a in archs}
        table = {a: t for a, t in table.items() if t}
        if not table:
            continue
        family = [(a, n) for a, t in table.items() for n, e in t.items() if _finite(e["p_value"])]
        for (a, n), p in zip(family, holm([table[a][n]["p_value"] for a, n in family]) if family else []):
            table[a][n]["p_adjusted"] = p
        for t in table.values():
            for e in t.values():
                e["verdict_adjusted"] = adjusted_verdict(e)
        comparisons[ref] = table
        pooled[ref] = {a: _pool(list(t.items())) for a, t in table.items()}
    for row in rows:  # the best model's adjusted p-values and verdicts
        for ref, entry in ((row["best"] or {}).get("versus") or {}).items():
            adjusted = comparisons[ref][row["best"]["arch"]][row["name"]]
            entry["p_adjusted"], entry["verdict_adjusted"] = adjusted.get("p_adjusted"), adjusted["verdict_adjusted"]
    return {
        "intersurv_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cohorts": rows,
        "architectures": archs,
        "comparisons": comparisons,
        "pooled": pooled,
        "methods": {"se": SE_METHOD, "pooled": POOL_METHOD, "adjustment": ADJUST_METHOD,
                    "adjustment_method": ADJUSTMENT,
                    "best": "fusion architecture with the highest mean Harrell C in the cohort (a selection on "
                            "the test folds: its differences favour it slightly)"},
    }
