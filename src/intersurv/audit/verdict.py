"""The audit's verdict: a few plain-language sentences from ``results.json``.

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
        out.append("No clinical reference model ran (no architecture 'clinical'), so no model is compared "
                   "with one on the covariates alone.")
    out += _interaction_sentences(results)
    out.append(_limits(results, len(archs)))
    return out
