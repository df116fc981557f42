"""What the report's numbers mean, written on the page itself (no reference elsewhere needed).

:func:`definitions_html` returns a short section defining InterSHAP, the
additive null, every ± and interval, and why a model that is additive in the
log-risk (late fusion) still shows interaction on the survival scale. The
settings it quotes (masker, output, aggregation, what ± is across) come from
``results.json``; everything from the data is escaped.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

_INTERSHAP = (
    "<b>InterSHAP</b> measures how much of a model's prediction comes from modalities acting together "
    "rather than each on its own. For every test patient the prediction (output: {output}) is evaluated "
    "with each subset of modalities present and the others masked ({masker}: {masker_text}). The Shapley "
    "interaction index splits those "
    "values into a main effect per modality (diagonal) and a pairwise interaction per pair of modalities "
    "(off-diagonal). <b>Local InterSHAP</b> of a patient = sum of |interactions| / sum of |all entries| "
    "of that patient's matrix; the <b>InterSHAP</b> column aggregates the test patients ({aggregation}: "
    "{aggregation_text}). 0 % means the model is additive in its modalities; the <b>shares</b> split the "
    "same total between the modalities' main effects and the interaction."
)
_AGGREGATION_TEXT = {
    "abs": "the mean |entry| over patients, interaction share of that mean matrix",
    "paper": "the |mean entry| over patients, interaction share of that mean matrix",
    "local_mean": "the mean of the patients' local InterSHAP",
    "swift2026": "the mean of |phi_int| / (|phi_1| + |phi_2| + |phi_int|) over patients",
}
_MASKER_TEXT = {
    "mean": "a masked modality is set to its mean over the model's training patients",
    "zero": "a masked modality is set to zero",
    "marginal": "the prediction is averaged over K training patients' values of the masked modalities",
    "shuffle": "a masked modality takes the values of one random training patient",
}
_NULL = (
    "<b>Additive null.</b> A flexible network shows some InterSHAP even when the outcome has no interaction "
    "at all (it fits noise, and its non-linearity mixes the modalities). To see how much, each fusion model "
    "is refitted on outcomes simulated from its own additive projection (its one-modality-at-a-time "
    "log-risks summed, a Cox model with no interaction by construction) and those refits are explained "
    "exactly like the model. The <b>excess</b> is the model's InterSHAP minus that null; <b>p</b> is the Monte-Carlo "
    "p-value, per seed/fold, that the model's InterSHAP exceeds its refits'. Only the excess, not the raw "
    "InterSHAP, is evidence of interaction in the data."
)
_SYNERGY = (
    "<b>Synergy or redundancy.</b> For each patient and pair of modalities, compare the pair's joint effect "
    "(both present, the others masked, minus the prediction with none) with the sum of its separate effects "
    "(each alone). Where the interaction makes the joint effect larger in magnitude than that sum, it is "
    "<b>synergy</b> (together the modalities show risk neither shows alone); where smaller, "
    "<b>redundancy</b> (they carry the same signal). The <b>synergy share</b> is the synergistic part of "
    "the mean |pairwise interaction|; redundancy is the rest. It is unchanged by shifting or negating the "
    "output, and it depends on the masker, like InterSHAP."
)
_PM = (
    "<b>Uncertainty.</b> <i>mean \u00b1 sd</i> in the main and null tables is the sample SD across {across} "
    "(one trained model each), not across patients. <i>[lo, hi]</i> after InterSHAP is a 95 % bootstrap "
    "interval over test patients (resampled with replacement). In the prognostic tables, the Wald 95 % CI "
    "comes from the Cox fit and the bootstrap 95 % CI from resampling patients; the ground truth's "
    "\u00b1 is across {across}."
)
_SURVIVAL_SCALE = (
    "<b>Why late fusion shows interaction over time.</b> Late fusion adds one log-risk per modality, "
    "h = h<sub>1</sub> + h<sub>2</sub>, so its InterSHAP on the log-risk scale is zero (up to float "
    "rounding, and its prognostic analysis is skipped). Survival is not additive in h: "
    "S(t) = S<sub>0</sub>(t)<sup>exp(h)</sup> = exp(&minus;H<sub>0</sub>(t) e<sup>h<sub>1</sub></sup>"
    "e<sup>h<sub>2</sub></sup>), a product of the modalities' effects, so on the survival scale the same "
    "model has interaction, and it changes with t as H<sub>0</sub>(t) grows. That interaction is a "
    "property of the scale, not of the data."
)


def definitions_html(results: Mapping[str, Any]) -> str:
    """The 'How to read this report' section (see the module docstring)."""
    protocol = results.get("protocol") or {}
    first = next(iter((results.get("architectures") or {}).values()), None) or {}
    ish = first.get("intershap") if isinstance(first.get("intershap"), Mapping) else {}

    def setting(key: str, default: str) -> str:
        return str(protocol.get(key) or ish.get(key) or default)

    aggregation, masker = setting("aggregation", "abs"), setting("masker", "mean")
    c_index = first.get("c_index") if isinstance(first.get("c_index"), Mapping) else {}
    across = str(c_index.get("across") or "seeds and/or folds")
    e = html.escape
    parts = [
        _INTERSHAP.format(output=e(setting("output", "log_risk")), masker=e(masker),
                          masker_text=e(_MASKER_TEXT.get(masker, masker)),
                          aggregation=e(aggregation),
                          aggregation_text=e(_AGGREGATION_TEXT.get(aggregation, aggregation))),
        _NULL + ("" if any(isinstance((a or {}).get("additive_null"), Mapping)
                           for a in (results.get("architectures") or {}).values())
                 else " This run did not compute it (<code>--null-refits 0</code>)."),
        _SYNERGY,
        _PM.format(across=e(across)),
        _SURVIVAL_SCALE,
    ]
    return "<h2>How to read this report</h2>\n" + "\n".join(f"<p>{p}</p>" for p in parts)
