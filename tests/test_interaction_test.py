"""The calibrated interaction answers: the additivity test's Cox algebra against lifelines and the
log-rank test, the product model's InterSHAP against its closed form, planted interactions (reproducible,
event times from the intended Cox model), the held-out per-architecture test (late fusion: p = 1) and
``results["interaction_test"]`` of an audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test
from scipy.stats import norm

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.survival.outcomes import CensoringCurve, draw_outcomes
from intersurv.audit.interaction_test import combine_units, heldout_unit_test
from intersurv.interactions.additivity_test import (
    ProductCox, cohort_interaction, cox_ridge, design, intershap_of, principal_scores, score_statistic,
)
from intersurv.interactions.planted import minimum_detectable, planted_log_risk
from intersurv.survival import BreslowBaseline
from intersurv.training.pca import PrincipalAxes
from intersurv.training.standardize import Standardizer


def _survival(rng: np.random.Generator, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = rng.exponential(np.exp(-h))
    c = rng.exponential(2.0, size=len(h))
    return np.minimum(t, c), (t <= c).astype(int)


def test_cox_ridge_matches_lifelines_without_ties() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    t, e = _survival(rng, X @ np.array([0.5, -0.3, 0.0]))
    fit = cox_ridge(X, t, e, 0.0)
    ref = CoxPHFitter().fit(pd.DataFrame(X, columns=list("abc")).assign(t=t, e=e), "t", "e")
    assert fit.converged
    np.testing.assert_allclose(fit.beta, ref.params_.to_numpy(), atol=1e-5)  # lifelines stops at ~1e-6
    np.testing.assert_allclose(np.sqrt(np.diag(np.linalg.inv(fit.information))), ref.standard_errors_.to_numpy(),
                               rtol=1e-4)
    # a ridge penalty shrinks: the penalised gradient l'(beta) - lam beta vanishes at the optimum
    shrunk = cox_ridge(X, t, e, 50.0)
    assert np.linalg.norm(shrunk.beta) < np.linalg.norm(fit.beta)


def test_score_statistic_is_the_logrank_test() -> None:
    """One binary covariate, no main effects, no ties: the Cox score test is the log-rank test."""
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=300) < 0.4).astype(float)
    t, e = _survival(rng, 0.3 * x)
    stat, _ = score_statistic(np.zeros((300, 0)), x[:, None], t, e)
    assert stat == pytest.approx(logrank_test(t[x == 1], t[x == 0], e[x == 1], e[x == 0]).test_statistic, rel=1e-9)


def test_principal_scores_are_the_whitened_components() -> None:
    rng = np.random.default_rng(2)
    X = {"a": rng.normal(size=(60, 40)).astype(np.float32), "b": rng.normal(size=(60, 3)).astype(np.float32)}
    scores = principal_scores(X, components=4)
    Z = Standardizer.fit(X).transform(X)
    ref = PrincipalAxes.fit(Z, 4).transform(Z)["a"].astype(np.float64)
    assert scores["a"].shape == (60, 4) and scores["b"].shape == (60, 3)  # narrow modality kept as is
    corr = np.corrcoef(scores["a"].T, ref.T)[:4, 4:]
    np.testing.assert_allclose(np.abs(np.diag(corr)), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores["a"].std(axis=0), 1.0, atol=1e-9)
    np.testing.assert_allclose(scores["a"].mean(axis=0), 0.0, atol=1e-9)


def test_product_model_intershap_closed_form() -> None:
    """Mean masker at the cohort mean (scores centred): m_i = a_i . p_i, m_12 = p_1^T G p_2."""
    rng = np.random.default_rng(3)
    s = {"x": rng.normal(size=(80, 2)), "y": rng.normal(size=(80, 3))}
    s = {m: v - v.mean(axis=0) for m, v in s.items()}
    beta = rng.normal(size=2 + 3 + 6)
    m1, m2 = s["x"] @ beta[:2], s["y"] @ beta[2:5]
    m12 = np.einsum("ai,ij,aj->a", s["x"], beta[5:].reshape(2, 3), s["y"])
    main, prods = design(s)
    np.testing.assert_allclose(ProductCox(["x", "y"], beta)(s), np.column_stack([main, prods]) @ beta)
    expected = np.abs(m12).mean() / (np.abs(m1).mean() + np.abs(m2).mean() + np.abs(m12).mean())
    assert intershap_of(["x", "y"], beta, s) == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def small_cohort():
    return intersurv.simulate("glioma", n=240, seed=4, wsi_dim=40, rna_genes=30, interaction=0.0)


def test_planted_log_risk_is_the_intended_model(small_cohort) -> None:
    scores = principal_scores(small_cohort.modalities)
    main, prods = design(scores)
    _, additive = score_statistic(main, prods, small_cohort.time, small_cohort.event)
    h, beta = planted_log_risk(scores, additive, 0.3)
    model = ProductCox(list(scores), beta)(scores)
    np.testing.assert_allclose(h - h.mean(), model - model.mean(), atol=1e-9)
    cross = h - (additive.log_risk - additive.log_risk.mean())
    assert cross.var() / h.var() == pytest.approx(0.3, rel=1e-6)  # the planted share of Var(h)
    assert intershap_of(list(scores), beta, scores) > intershap_of(list(scores), planted_log_risk(
        scores, additive, 0.05)[1], scores) > 0


def test_planted_draws_follow_the_cox_model_and_are_reproducible(small_cohort) -> None:
    scores = principal_scores(small_cohort.modalities)
    main, prods = design(scores)
    _, additive = score_statistic(main, prods, small_cohort.time, small_cohort.event)
    h, _ = planted_log_risk(scores, additive, 0.2)
    baseline = BreslowBaseline.fit(additive.log_risk, small_cohort.time, small_cohort.event)
    # censoring beyond the baseline: only patients who outlive it are censored
    far = CensoringCurve.fit(np.array([1e9]), np.array([1]))
    reps = 150
    times = np.empty((reps, len(h)))
    events = np.empty((reps, len(h)))
    rng = np.random.default_rng(5)
    for r in range(reps):
        times[r], events[r] = draw_outcomes(h, baseline, far, rng)
    n = times.size
    for k in (5, len(baseline.times) // 2, len(baseline.times) - 5):
        p = 1 - np.exp(-baseline.cumhaz[k] * np.exp(h))  # per patient
        empirical = np.mean((times <= baseline.times[k]) & (events == 1))
        se = np.sqrt(np.sum(p * (1 - p)) * reps) / n
        assert abs(empirical - p.mean()) < 4 * se
    censoring = CensoringCurve.fit(small_cohort.time, small_cohort.event)
    a = draw_outcomes(h, baseline, censoring, np.random.default_rng(9))
    b = draw_outcomes(h, baseline, censoring, np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_minimum_detectable_interpolates() -> None:
    assert minimum_detectable([0.1, 0.2, 0.3], [0.5, 0.7, 0.9], 0.8) == pytest.approx(0.25)
    assert minimum_detectable([0.3, 0.1], [0.9, 0.85], 0.8) == pytest.approx(0.1)
    assert minimum_detectable([0.1, 0.2], [0.1, 0.5], 0.8) is None


def test_cohort_interaction_detects_a_strong_interaction(small_cohort) -> None:
    strong = intersurv.simulate("glioma", n=240, seed=4, wsi_dim=40, rna_genes=30, interaction=0.5)
    kw = dict(null_replicates=19, ci_replicates=10, planted_replicates=5, seed=0)
    r = cohort_interaction(strong, **kw)
    assert r["p_value"] == pytest.approx(0.05) and r["p_chi2"] < 1e-4  # the smallest p 19 replicates allow
    assert 0 < r["ci"][0] <= r["ci"][1] < 1 and 0 < r["estimate"] < 1 and r["df"] == 25
    syn = r["synergy"]  # the product model's split, reported because the test rejects
    assert syn["reported"] and syn["replicates"] == 10 and 0 <= syn["ci"][0] <= syn["estimate"] <= syn["ci"][1] <= 1
    assert syn["model"]["overall"]["synergy_share"] == pytest.approx(1 - syn["model"]["overall"]["redundancy_share"])
    assert r == cohort_interaction(strong, **kw)  # reproducible
    assert len(r["planted"]["detection_rate"]) == len(r["planted"]["shares"])
    small = intersurv.simulate("glioma", n=60, seed=4, wsi_dim=40, rna_genes=30)
    fewer = cohort_interaction(small, **kw)  # too few events for 5 components each: the most that fit
    k = fewer["components"]["wsi"]
    assert 1 <= k < 5 and fewer["df"] == k * k and 2 * (2 * k + k * k) <= small.n_events
    few = small.subset(np.r_[np.flatnonzero(small.event)[:2], np.flatnonzero(small.event == 0)[:10]])
    tiny = cohort_interaction(few, **kw)
    assert tiny["p_value"] is None and "2 events for 3 model columns" in tiny["skipped"]
    null = cohort_interaction(small_cohort, **kw)
    assert 0.05 <= null["p_value"] <= 1 and (null["p_value"] <= 0.05 or null["ci"][0] == 0.0)
    assert null["synergy"]["reported"] == (null["p_value"] <= 0.05)


def test_heldout_test_is_exactly_null_for_an_additive_model() -> None:
    rng = np.random.default_rng(6)
    f_add = rng.normal(size=120)
    t, e = _survival(rng, f_add)
    r = heldout_unit_test(f_add + 1e-8, f_add, t, e)  # float32 rounding only
    assert r == {"tested": False, "z": 0.0, "p": None, "wald_z": 0.0, "beta": 0.0, "se": None}
    combined = combine_units([{**r, "seed": s} for s in (0, 1)], intershap=1e-7)
    assert combined["p_value"] == 1.0 and combined["statistic"] == 0.0 and combined["effect"] == 0.0


def test_heldout_test_matches_lifelines_and_finds_a_real_interaction() -> None:
    rng = np.random.default_rng(7)
    f_add, g = rng.normal(size=300), rng.normal(size=300)
    t, e = _survival(rng, f_add + 0.8 * g)
    r = heldout_unit_test(f_add + g, f_add, t, e, replicates=49)
    ref = CoxPHFitter().fit(pd.DataFrame({"f": f_add, "g": g, "t": t, "e": e}), "t", "e")
    assert r["beta"] == pytest.approx(ref.params_["g"], rel=1e-3)
    assert r["wald_z"] == pytest.approx(ref.params_["g"] / ref.standard_errors_["g"], rel=1e-3)
    # no null draw reaches a Wald z of ~10: the smallest bootstrap p, and its normal quantile
    assert r["p"] == pytest.approx(1 / 50) and r["z"] == pytest.approx(norm.isf(1 / 50))
    combined = combine_units([{**r, "seed": 0, "fold": 0}], intershap=0.2)
    assert combined["p_value"] == pytest.approx(1 / 50) and combined["ci"][0] < combined["effect"] < combined["ci"][1]
    b = r["beta"]
    assert combined["effect"] == pytest.approx(b * 0.2 / (0.8 + b * 0.2))


def test_heldout_bootstrap_p_is_reproducible_and_near_the_wald_p_with_many_events() -> None:
    rng = np.random.default_rng(8)
    f_add, g = rng.normal(size=400), rng.normal(size=400)
    t, e = _survival(rng, f_add + 0.12 * g)
    runs = [heldout_unit_test(f_add + g, f_add, t, e, replicates=199, rng=np.random.default_rng(s)) for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0]["wald_z"] == runs[2]["wald_z"]
    # two columns and hundreds of events: the Wald z is close to normal, so the bootstrap p is close to its
    # normal p (within the Monte Carlo error of 199 draws)
    assert 0.01 < norm.sf(runs[0]["wald_z"]) < 0.5
    assert runs[0]["p"] == pytest.approx(norm.sf(runs[0]["wald_z"]), abs=0.06)


def test_audit_reports_the_interaction_test(tmp_path) -> None:
    cohort = intersurv.simulate("glioma", n=240, seed=1, wsi_dim=24, rna_genes=16)
    data = {"cohort": "", "architectures": ["unimodal", "late", "bilinear"], "seeds": [0],
            "train": {"max_epochs": 5, "patience": 5},
            "explain": {"bootstrap": 5, "time_points": 0}, "prognostic": {"bootstrap": 5, "permutations": 5}}
    results = run_audit(audit_config(data, cohort.modality_names), tmp_path / "run", cohort=cohort)
    test = results["interaction_test"]
    c = test["cohort"]
    assert 0 < c["p_value"] <= 1 and len(c["ci"]) == 2 and c["method"]
    assert c["minimum_detectable"] is None or 0 < c["minimum_detectable"] < 1
    assert set(test["architectures"]) == {"late", "bilinear"}
    assert test["architectures"]["late"]["p_value"] == 1.0 and test["architectures"]["late"]["effect"] == 0.0
    assert 0 <= test["architectures"]["bilinear"]["p_value"] <= 1
    assert any("detects with 80 % power" in s for s in results["verdict"])
    assert "detects with 80 % power" in (tmp_path / "run" / "report.html").read_text()
