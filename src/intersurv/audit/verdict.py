"""The audit's verdict: a compact answer block, then a few plain-language sentences, from ``results.json``.

:func:`answer_block` (``results["answer"]``) is the short answer the report and
the terminal lead with: the best model, whether it is better than each
reference (yes / no, with its difference in C and interval) and whether the
cohort carries cross-modal interaction (p, estimate, minimum detectable).
:func:`verdict` (``results["verdict"]``) gives the sentences.

Built from ``results["comparisons"]`` (:mod:`intersurv.audit.comparisons`) and
``results["references"]``: which architectures are better than late fusion (the
additive reference), how they compare with the best unimodal model and with the
clinical reference model, then the interaction answer (``results["interaction_test"]``,
when the calibrated interaction test has run) and what the numbers cannot say.
A model is called better (worse) than a reference when the 95 % interval of its
difference in Harrell's C lies above (below) 0; otherwise the two are not
distinguishable at this cohort's size, which is not the same as equal.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .comparisons import UNIMODAL_PREFIXES

#: What each reference is called in a sentence.
REF_LABELS = {"late": "late fusion (the additive reference)", "best_unimodal": "the best unimodal model",
              "clinical": "the clinical reference model"}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def delta_text(entry: Mapping[str, Any]) -> str:
    """'+0.021 (95 % CI +0.004 to +0.038)' for a comparison entry."""
    d, ci = entry.get("delta_c"), entry.get("ci") or [None, None]
    if not _finite(d):
        return "n/a"
    if not (_finite(ci[0]) and _finite(ci[1])):
        return f"{d:+.3f} (no interval: a single unit)"
    return f"{d:+.3f} (95 % CI {ci[0]:+.3f} to {ci[1]:+.3f})"


def classify(entry: Mapping[str, Any]) -> str:
    """'better', 'worse' or 'not distinguishable' from the interval of the difference in C."""
    lo, hi = (entry.get("ci") or [None, None])[:2]
    if _finite(lo) and lo > 0:
        return "better"
    if _finite(hi) and hi < 0:
        return "worse"
    return "not distinguishable"


def _against(comparisons: Mapping[str, Any], ref: str, ref_arch: str, candidates: list[str]) -> str:
    groups: dict[str, list[str]] = {"better": [], "not distinguishable": [], "worse": []}
    for name in candidates:
        entry = (comparisons.get(name) or {}).get(ref)
        if entry:
            groups[classify(entry)].append(f"{name} {delta_text(entry)}")
    label = REF_LABELS[ref] + ("" if ref == "late" else f" ({ref_arch})")
    parts = [f"Difference in Harrell's C against {label}:"]
    if not groups["better"]:
        parts.append("no model is better;")
    for key in ("better", "not distinguishable", "worse"):
        if groups[key]:
            parts.append(f"{key}: {'; '.join(groups[key])};")
    return " ".join(parts).rstrip(";") + "."


def _protocol_sentence(results: Mapping[str, Any]) -> str:
    proto = results.get("protocol") or {}
    seeds = len(proto.get("seeds") or [])
    if proto.get("kind") == "cv":
        how = f"{proto.get('folds')}-fold cross-validation repeated over {seeds} seed(s)"
    else:
        how = f"a hold-out split per seed over {seeds} seed(s)"
    return (f"Protocol: {how}; every difference is model minus reference on the same test patients, with a "
            "95 % interval from the corrected resampled t-test (Nadeau & Bengio), which allows for the "
            "training sets' overlap.")


def _interaction_sentences(results: Mapping[str, Any]) -> list[str]:
    """The calibrated interaction answer (``results["interaction_test"]``), or why there is none."""
    from ..report.interaction_verdict import verdict_lines

    return verdict_lines(results) or [
        "Whether the cohort itself carries cross-modal interaction is not tested in this run: an "
        "architecture's InterSHAP describes that model, not the data."]


def _limits(results: Mapping[str, Any], n_candidates: int) -> str:
    c = results.get("cohort") or {}
    return (f"What these numbers cannot say: the intervals cover re-splitting this cohort "
            f"({c.get('n_patients', '?')} patients, {c.get('n_events', '?')} events), not a new cohort or "
            f"hospital; 'not distinguishable' is not 'equal' (the interval shows which differences remain "
            f"possible); {n_candidates} models are compared without a correction for multiple comparisons.")


def verdict(results: Mapping[str, Any]) -> list[str]:
    """The verdict sentences (``results["verdict"]``)."""
    comparisons = results.get("comparisons") or {}
    refs = results.get("references") or {}
    archs = list((results.get("architectures") or {}).keys())
    fusion = [a for a in archs if not a.startswith(UNIMODAL_PREFIXES) and a not in ("late", "clinical")]
    out = [_protocol_sentence(results)]
    if "late" in refs and fusion:
        out.append(_against(comparisons, "late", "late", fusion))
    best = refs.get("best_unimodal")
    if best:
        c = ((results.get("architectures") or {}).get(best) or {}).get("c_index") or {}
        mean = f" (mean C {c['mean']:.3f})" if _finite(c.get("mean")) else ""
        out.append(f"The best unimodal model is {best}{mean}, chosen by "
                   f"{refs.get('best_unimodal_selection', 'an unstated rule')}.")
        out.append(_against(comparisons, "best_unimodal", best, [a for a in archs if a != best
                                                                 and not a.startswith(UNIMODAL_PREFIXES)]))
    if "clinical" in refs:
        out.append(_against(comparisons, "clinical", "clinical", [a for a in archs if a != "clinical"]))
    else:
        out.append("No clinical reference model ran (architecture 'clinical' needs numeric covariates with a "
                   "value for every patient, and runs by default when the cohort has them), so no model is "
                   "compared with one on the covariates alone.")
    out += _interaction_sentences(results)
    out.append(_limits(results, len(archs)))
    return out


def _best_model(archs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The architecture with the highest mean Harrell C (None without any)."""
    means = {name: (a.get("c_index") or {}).get("mean") for name, a in archs.items()}
    means = {name: m for name, m in means.items() if _finite(m)}
    if not means:
        return None
    name = max(means, key=means.__getitem__)
    c = archs[name].get("c_index") or {}
    return {"arch": name, "c_index": means[name], "sd": c.get("sd"), "across": c.get("across"),
            "selection": ("highest mean Harrell C on the test folds among all architectures: a selection on "
                          "the same test data, so its comparisons favour it slightly")}


def _answer_against(comparisons: Mapping[str, Any], best: str, ref: str, ref_arch: str) -> dict[str, Any]:
    entry = (comparisons.get(best) or {}).get(ref)
    out: dict[str, Any] = {"ref_arch": ref_arch, "better": None, "verdict": None, "delta_c": None, "ci": None,
                           "p_value": None}
    if ref_arch == best:
        out["verdict"] = "is the reference"
    elif entry:
        kind = classify(entry)
        out.update(better=kind == "better", verdict=kind, delta_c=entry.get("delta_c"), ci=entry.get("ci"),
                   p_value=entry.get("p_value"))
    return out


def _answer_interaction(results: Mapping[str, Any]) -> dict[str, Any] | None:
    cohort = (results.get("interaction_test") or {}).get("cohort")
    if not cohort:
        return None
    p, alpha = cohort.get("p_value"), cohort.get("alpha", 0.05)
    return {"detected": None if not _finite(p) else bool(p <= alpha), "p_value": p, "alpha": alpha,
            "estimate": cohort.get("estimate"), "ci": cohort.get("ci"),
            "minimum_detectable": cohort.get("minimum_detectable"), "skipped": cohort.get("skipped")}


def answer_block(results: Mapping[str, Any]) -> dict[str, Any]:
    """The compact answer (``results["answer"]``, docs/results.md) from the architectures, comparisons,
    references and interaction test of ``results``.

    ``best_model``: the architecture with the highest mean Harrell C; ``against``: REF -> is the best
    model better than that reference (``better`` true when the 95 % interval of its difference in C lies
    above 0, as in :func:`classify`), for the references the run has (``late``, ``best_unimodal``,
    ``clinical``); ``interaction``: the cohort-level test (``detected`` = p <= alpha), or None.
    """
    archs = results.get("architectures") or {}
    refs = results.get("references") or {}
    best = _best_model(archs)
    against = {} if best is None else {
        ref: _answer_against(results.get("comparisons") or {}, best["arch"], ref, str(refs[ref]))
        for ref in REF_LABELS if refs.get(ref)}
    return {"best_model": best, "against": against, "interaction": _answer_interaction(results)}
