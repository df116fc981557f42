"""Paired comparisons: the corrected resampled t-test against its closed form, discordance, references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from intersurv.audit.comparisons import UnitScores, best_unimodal, comparisons, discordance, resampled_t
from intersurv.audit.verdict import classify, verdict


def test_corrected_t_matches_the_closed_form_for_two_degrees_of_freedom() -> None:
    d = np.array([0.01, 0.04, -0.02])
    mean = 0.01
    s2 = ((0.0) ** 2 + 0.03 ** 2 + 0.03 ** 2) / 2  # sample variance by hand: 0.0009
    ratio = 0.25
    se = math.sqrt((1 / 3 + ratio) * s2)
    # Student t with 2 df: F(t) = 1/2 + t / (2 sqrt(2 + t^2)); its 0.975 quantile is 0.95 / sqrt(2 * 0.975 * 0.025)
    q = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    t = mean / se
    p = 1 - t / math.sqrt(2 + t * t)
    out = resampled_t(d, ratio)
    assert out["delta"] == pytest.approx(mean)
    assert out["se"] == pytest.approx(se)
    assert out["ci"] == pytest.approx([mean - q * se, mean + q * se])
    assert out["p_value"] == pytest.approx(p)
    assert out["df"] == 2 and out["units"] == 3


def test_naive_interval_is_narrower_by_the_nadeau_bengio_factor() -> None:
    d = np.random.default_rng(0).normal(0.01, 0.02, size=10)
    corrected, naive = resampled_t(d, 0.25), resampled_t(d, 0.25, corrected=False)
    assert corrected["se"] / naive["se"] == pytest.approx(math.sqrt((0.1 + 0.25) / 0.1))
    assert naive["se"] == pytest.approx(np.std(d, ddof=1) / math.sqrt(10))


def test_degenerate_differences() -> None:
    assert resampled_t(np.array([0.02]), 0.25)["ci"] == [None, None]
    assert resampled_t(np.zeros(4), 0.25)["p_value"] == 1.0
    assert resampled_t(np.array([0.1, np.nan, 0.1]), 0.25)["units"] == 2


def test_discordance_counts_comparable_pairs_ordered_differently() -> None:
    rng = np.random.default_rng(3)
    n = 30
    time, event = rng.exponential(size=n), rng.integers(0, 2, size=n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    pairs = [(i, j) for i in range(n) for j in range(n) if event[i] and time[i] < time[j]]
    brute = np.mean([np.sign(a[i] - a[j]) != np.sign(b[i] - b[j]) for i, j in pairs])
    assert discordance(a, b, time, event) == pytest.approx(brute)
    assert discordance(a, 3 * a + 1, time, event) == 0.0
    assert discordance(a, -a, time, event) == 1.0
    assert math.isnan(discordance(a, b, time, np.zeros(n)))


def _units(c_values: list[float], val_loss: float | None, n: int = 20) -> list[UnitScores]:
    rng = np.random.default_rng(len(c_values))
    preds = pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "time": rng.exponential(size=n),
                          "event": rng.integers(0, 2, size=n), "log_risk": rng.normal(size=n)})
    return [UnitScores(seed=s, fold=0, metrics={"c_harrell": c, "c_uno": c, "ibs": 0.2}, n_train=80, n_test=n,
                       predictions=preds, val_loss=val_loss) for s, c in enumerate(c_values)]


def test_comparisons_table_references_and_verdict() -> None:
    scores = {"unimodal:a": _units([0.60, 0.62, 0.61], 3.0), "unimodal:b": _units([0.70, 0.71, 0.69], 3.5),
              "late": _units([0.70, 0.72, 0.71], 2.9), "bilinear": _units([0.75, 0.78, 0.76], 2.8)}
    table, refs = comparisons(scores, "holdout")
    # chosen on validation loss, not on test C (unimodal:b has the higher test C)
    assert refs["best_unimodal"] == "unimodal:a" and "validation" in refs["best_unimodal_selection"]
    entry = table["bilinear"]["late"]
    assert entry["delta_c"] == pytest.approx(np.mean([0.05, 0.06, 0.05]))
    assert entry["test_train_ratio"] == pytest.approx(0.25) and entry["units"] == 3
    assert entry["delta_ibs"]["delta"] == pytest.approx(0.0)
    assert "late" not in table["late"] and "best_unimodal" not in table["unimodal:a"]
    assert classify(entry) == "better"
    results = {"architectures": {a: {"c_index": {"mean": 0.7}} for a in scores}, "comparisons": table,
               "references": refs, "protocol": {"kind": "holdout", "seeds": [0, 1, 2]},
               "cohort": {"n_patients": 100, "n_events": 40}}
    text = " ".join(verdict(results))
    assert "better: bilinear +0.053" in text and "unimodal:a" in text and "No clinical reference" in text
    results["interaction_test"] = {"cohort": {"p_value": 0.4, "estimate": 0.0, "ci": [0.0, 0.08],
                                              "minimum_detectable": 0.2, "planted": {}}, "architectures": {}}
    text = " ".join(verdict(results))
    assert "No cross-modal interaction detected in the cohort" in text and "80 % power: InterSHAP 20" in text


def test_answer_block_leads_the_verdict() -> None:
    from intersurv.audit.verdict import answer_block
    from intersurv.report import format_summary
    from intersurv.report.answer import answer_html

    scores = {"unimodal:a": _units([0.60, 0.62, 0.61], 3.0), "late": _units([0.70, 0.72, 0.71], 2.9),
              "bilinear": _units([0.75, 0.78, 0.76], 2.8), "clinical": _units([0.74, 0.79, 0.70], None)}
    table, refs = comparisons(scores, "holdout")
    archs = {a: {"c_index": {"mean": float(np.mean([u.metrics["c_harrell"] for u in s])), "sd": 0.01,
                             "across": "seeds"}} for a, s in scores.items()}
    results = {"architectures": archs, "comparisons": table, "references": refs,
               "protocol": {"kind": "holdout", "seeds": [0, 1, 2]}, "cohort": {"n_patients": 100, "n_events": 40},
               "interaction_test": {"cohort": {"p_value": 0.4, "alpha": 0.05, "estimate": 0.0, "ci": [0.0, 0.08],
                                               "minimum_detectable": 0.2, "planted": {}}, "architectures": {}}}
    block = answer_block(results)
    assert block["best_model"]["arch"] == "bilinear" and block["best_model"]["c_index"] == pytest.approx(0.7633, 1e-3)
    late, uni, clin = (block["against"][r] for r in ("late", "best_unimodal", "clinical"))
    assert late["better"] is True and late["verdict"] == "better" and late["ref_arch"] == "late"
    assert late["delta_c"] == table["bilinear"]["late"]["delta_c"] and late["ci"] == table["bilinear"]["late"]["ci"]
    assert uni["ref_arch"] == "unimodal:a" and uni["better"] is True
    assert clin["better"] is False and clin["verdict"] == "not distinguishable"  # its interval holds 0
    assert clin["ci"][0] < 0 < clin["ci"][1]
    assert block["interaction"] == {"detected": False, "p_value": 0.4, "alpha": 0.05, "estimate": 0.0,
                                    "ci": [0.0, 0.08], "minimum_detectable": 0.2, "skipped": None}
    results["answer"] = block
    results["verdict"] = verdict(results)
    text = format_summary(results)
    head = text.split("Verdict:")[0]  # the block comes first, then the sentences
    assert head.startswith("Answer:") and "Verdict:" in text
    assert "best model" in head and "bilinear (mean Harrell C 0.763" in head
    assert f"yes: \u0394C +{late['delta_c']:.3f} [" in head and "no: \u0394C" in head
    assert "better than best unimodal (unimodal:a)?" in head
    assert "not detected: p = 0.4; InterSHAP estimate 0.0 % [0.0 %, 8.0 %]; minimum detectable (80 % power) 20.0 %" in head
    # the best model being a reference itself, and no clinical model
    del scores["clinical"], scores["bilinear"]
    table, refs = comparisons(scores, "holdout")
    results.update(comparisons=table, references=refs,
                   architectures={a: v for a, v in archs.items() if a in scores}, interaction_test={})
    block = answer_block(results)
    assert block["best_model"]["arch"] == "late" and block["against"]["late"]["verdict"] == "is the reference"
    assert "clinical" not in block["against"] and block["interaction"] is None
    results["answer"] = block
    html_block = answer_html(results)
    assert html_block.startswith('<section class="answer">') and "it is this reference" in html_block
    assert "no clinical reference in this run" in html_block and "not tested in this run" in html_block
    assert answer_html({"architectures": {}}) == ""  # results written before the block: none


def test_best_unimodal_falls_back_to_test_c_and_says_so() -> None:
    scores = {"linear:a": _units([0.60, 0.62], None), "linear:b": _units([0.70, 0.71], None)}
    best = best_unimodal(scores)
    assert best is not None and best["arch"] == "linear:b" and "same test data" in best["selection"]
    # a model without validation loss is no candidate while some have one
    scores["unimodal:c"] = _units([0.55, 0.56], 3.0)
    assert best_unimodal(scores)["arch"] == "unimodal:c"
