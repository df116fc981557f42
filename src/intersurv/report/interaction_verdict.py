"""The interaction verdict: the calibrated answers of ``results["interaction_test"]`` in a few sentences.

Part of ``results["verdict"]`` (:func:`intersurv.audit.verdict.verdict`), printed first in the
terminal and at the top of ``report.html``: is there
cross-modal interaction in the cohort (test, estimate with CI, its kind,
synergy or redundancy, where the test rejects, and what the
test could have detected), and does each architecture's interaction predict
on held-out patients. Raw InterSHAP, further down, is a property of the
fitted model.
"""

from __future__ import annotations

from typing import Any, Mapping

from .tables import fmt_ci, fmt_p, fmt_pct


def synergy_lines(synergy: Mapping[str, Any] | None) -> list[str]:
    """The kind of the cohort's interaction (``interaction_test.cohort.synergy``), one sentence; [] unless it
    is reported (the additivity test rejected) and the product model interacts."""
    if not synergy or not synergy.get("reported") or synergy.get("estimate") is None:
        return []
    est, ci = synergy["estimate"], synergy["ci"]
    kind = ("mostly synergy: the modalities' joint effect exceeds the sum of their separate effects"
            if synergy["kind"] == "synergy" else
            "mostly redundancy: the modalities' joint effect falls short of the sum of their separate effects"
            if synergy["kind"] == "redundancy" else "as much synergy as redundancy")
    even = (ci[0] is not None and ci[1] is not None and ci[0] <= 0.5 <= ci[1])
    return [f"Kind of interaction: {kind} (synergy share {fmt_pct(est)} of the interaction, 95 % CI "
            f"{fmt_ci(ci, pct=True)}, redundancy the rest"
            + ("; the interval does not exclude an even split" if even else "")
            + "; from the test's product model, docs/validation.md)."]


def verdict_lines(results: Mapping[str, Any]) -> list[str]:
    """The verdict as plain sentences ([] when the audit has no interaction test)."""
    test = results.get("interaction_test") or {}
    cohort, archs = test.get("cohort"), test.get("architectures") or {}
    lines = []
    if cohort and cohort.get("p_value") is None:
        lines.append(f"Cohort-level interaction test not run: {cohort.get('skipped', 'too few events')}.")
    elif cohort:
        alpha = cohort.get("alpha", 0.05)
        found = cohort["p_value"] <= alpha
        head = ("Cross-modal interaction detected in the cohort" if found
                else "No cross-modal interaction detected in the cohort")
        detectable = cohort.get("minimum_detectable")
        lines.append(f"{head} (additivity test p = {fmt_p(cohort['p_value'])}); estimated InterSHAP "
                     f"{fmt_pct(cohort['estimate'])}, 95 % CI {fmt_ci(cohort['ci'], pct=True)}.")
        if found:
            lines += synergy_lines(cohort.get("synergy"))
        lines.append("Smallest interaction this cohort detects with 80 % power: InterSHAP "
                     + (fmt_pct(detectable) if detectable is not None else "above every planted strength")
                     + (" (not computed)" if cohort.get("planted") is None else "") + ".")
    if archs:
        lines.append("Per fusion model, does its own interaction predict survival on its held-out patients? "
                     "(At the nominal 5 % this test rejected in at most 6 % of simulated cohorts without "
                     "interaction, docs/validation.md; it answers for the model, the test above for the cohort.)")
    for name, a in archs.items():
        if a["p_value"] is None:
            lines.append(f"{name}: too few test events for the held-out interaction test.")
            continue
        lines.append(f"{name}: held-out interaction effect {fmt_pct(a['effect'])} "
                     f"{fmt_ci(a['ci'], pct=True)}, p = {fmt_p(a['p_value'])}.")
    if lines:
        lines.append("Raw InterSHAP in the tables below describes each fitted model, not the cohort.")
    return lines
