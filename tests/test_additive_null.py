"""The additive null (audit/additive_null.py): outcomes drawn from a Cox model
without interaction, checked against the closed forms of the event-time and
censoring distributions, and its place in the audit's results and report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.audit.additive_null import TIE, draw_additive_null
from intersurv.report.tables import format_main_table
from intersurv.survival import BreslowBaseline


@pytest.fixture(scope="module")
def baseline() -> BreslowBaseline:
    rng = np.random.default_rng(0)
    h = rng.normal(size=300)
    t = rng.exponential(np.exp(-h)) * 10 + 0.01
    return BreslowBaseline.fit(h, t, np.ones(300, dtype=int))


def test_event_times_follow_the_cox_model(baseline: BreslowBaseline) -> None:
    """Uncensored source: P(T <= t_k) = 1 - exp(-H0(t_k) e^f) at every baseline time."""
    n, f = 40_000, 0.4
    source_time = baseline.times  # follow-up as long as the baseline, no censoring
    time, event = draw_additive_null(np.full(n, f), baseline, source_time, np.ones(len(source_time), dtype=int),
                                     np.random.default_rng(1))
    # only patients who outlive the baseline are censored (at the last follow-up time)
    assert np.all(time[event == 0] == source_time.max())
    survive = np.exp(-baseline.cumhaz[-1] * np.exp(f))
    assert abs((1 - event).mean() - survive) < 4 * np.sqrt(survive * (1 - survive) / n) + 1e-9
    for k in (5, 50, 150, 250):
        expected = 1 - np.exp(-baseline.cumhaz[k] * np.exp(f))
        empirical = np.mean((time <= baseline.times[k]) & (event == 1))
        assert abs(empirical - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert set(np.unique(time[event == 1])) <= set(baseline.times)


def test_censoring_follows_the_reverse_kaplan_meier(baseline: BreslowBaseline) -> None:
    """Without events (log-risk -50) every observed time is a censoring draw: P(C <= c) = 1 - G(c)."""
    rng = np.random.default_rng(2)
    src_time = rng.uniform(1, 20, size=200)
    src_event = (rng.uniform(size=200) < 0.5).astype(int)
    n = 40_000
    time, event = draw_additive_null(np.full(n, -50.0), baseline, src_time, src_event, np.random.default_rng(3))
    assert event.sum() == 0 and time.max() <= src_time.max()
    g = KaplanMeierFitter().fit(src_time, 1 - src_event)
    for c in (3.0, 8.0, 15.0):
        expected = 1 - float(g.survival_function_at_times(c).iloc[0])
        assert abs(np.mean(time <= c) - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


def test_draws_are_reproducible(baseline: BreslowBaseline) -> None:
    args = (np.linspace(-1, 1, 50), baseline, np.linspace(1, 30, 50), np.arange(50) % 2)
    a = draw_additive_null(*args, np.random.default_rng(7))
    b = draw_additive_null(*args, np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_audit_reports_the_additive_null(tmp_path) -> None:
    cohort = intersurv.simulate("glioma", n=160, seed=1, wsi_dim=24, rna_genes=16)
    data = {"cohort": "", "architectures": ["unimodal", "late", "bilinear"], "seeds": [0, 1],
            "train": {"max_epochs": 10, "patience": 5},
            "explain": {"bootstrap": 10, "time_points": 0, "null_refits": 3},
            "prognostic": {"bootstrap": 5, "permutations": 5}}
    results = run_audit(audit_config(data, cohort.modality_names), tmp_path / "run", cohort=cohort)
    archs = results["architectures"]
    assert archs["unimodal:wsi"]["additive_null"] is None  # one modality: no interaction to test
    late, bil = archs["late"]["additive_null"], archs["bilinear"]["additive_null"]
    assert late["refits"] == 3 and late["p"] == [1.0, 1.0]  # all ties: no evidence of interaction
    # late fusion is additive whatever its outcomes: its null InterSHAP, computed through refits, is 0
    assert late["intershap"]["mean"] == pytest.approx(0.0, abs=1e-6)  # float32 rounding
    assert 0 < bil["intershap"]["mean"] < 1 and all(1 / 4 <= p <= 1 for p in bil["p"])
    units = sorted((tmp_path / "run" / "units").glob("bilinear_*"))
    nulls = [json.loads((u / "result.json").read_text())["interaction"]["additive_null"] for u in units]
    assert bil["excess"]["mean"] == pytest.approx(np.mean([n["excess"] for n in nulls]))
    for n in nulls:
        assert n["mean"] == pytest.approx(np.mean(n["intershap"]))
        assert n["p"] == pytest.approx((1 + sum(v >= n["mean"] + n["excess"] - TIE for v in n["intershap"])) / 4)
    text = format_main_table(results)
    assert "Interaction beyond the additive null" in text and "bilinear" in text.split("additive null:")[1]
    assert "beyond the additive null" in (tmp_path / "run" / "report.html").read_text()
    # a second run with the same config resumes: nothing is refitted, the numbers are identical
    again = run_audit(audit_config(data, cohort.modality_names), tmp_path / "run", cohort=cohort)
    assert again["architectures"]["bilinear"]["additive_null"] == bil
