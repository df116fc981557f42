"""Prognostic analysis of per-patient interaction, checked against lifelines called
directly and against closed forms (HR per SD = exp(beta_raw * sd), RMST without
censoring = mean of min(T, tau))."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import restricted_mean_survival_time

from intersurv.analysis import prognostic_analysis
from intersurv.analysis.prognostic import quartile_index
from intersurv.survival.cox import cox_fit
from intersurv.survival.km import km_rmst
from intersurv.errors import IntersurvError
from intersurv.io.atomic import write_json_atomic

TIGHT = {"precision": 1e-12}


def cohort(n: int = 160, effect: float = 0.6, seed: int = 3, ties: bool = True):
    """x affects hazard beyond h; integer times give ties; ~30 % censored."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    h = 0.5 * x + rng.normal(size=n)
    t_event = rng.exponential(np.exp(-(effect * x + 0.8 * h)))
    t_cens = rng.exponential(2.0, size=n)
    t = np.minimum(t_event, t_cens)
    t = np.ceil(t * 8) / 8 if ties else t
    d = (t_event <= t_cens).astype(int)
    return x, t, d, h, rng


def lifelines_fit(cols: dict, t, d) -> CoxPHFitter:
    return CoxPHFitter().fit(pd.DataFrame({**cols, "T": t, "E": d}), "T", "E", fit_options=TIGHT)


@pytest.mark.parametrize("p", [1, 3])
def test_newton_cox_matches_lifelines_with_efron_ties(p: int) -> None:
    x, t, d, h, rng = cohort(n=120)
    X = np.c_[x, h, rng.normal(size=len(x))][:, :p]
    ours = cox_fit(X, t, d)
    ref = lifelines_fit({f"c{j}": X[:, j] for j in range(p)}, t, d).params_.to_numpy()
    assert len(np.unique(t)) < len(t)  # ties are exercised
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_newton_cox_returns_none_without_finite_optimum() -> None:
    # perfect separation: every event has a larger x than everyone still at risk
    t = np.arange(1.0, 21.0)
    x = -t
    assert cox_fit(x[:, None], t, np.ones(20)) is None


def test_hazard_ratios_equal_lifelines_on_the_raw_variable() -> None:
    x, t, d, h, rng = cohort()
    group = rng.choice(["b", "a", "c"], len(x))
    cov = pd.DataFrame({"age": rng.normal(60, 10, len(x)), "sex": rng.choice(["m", "f"], len(x))})
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, group=group, covariates=cov,
                              bootstrap=30, permutations=30)
    sd = np.std(x, ddof=1)
    assert res["ok"] and res["sd"] == pytest.approx(sd)

    un = lifelines_fit({"x": x}, t, d).summary.loc["x"]
    m = res["models"]["unadjusted"]
    assert m["hr_per_sd"] == pytest.approx(math.exp(un["coef"] * sd), rel=1e-5)
    assert m["ci"] == pytest.approx([math.exp(un["coef lower 95%"] * sd), math.exp(un["coef upper 95%"] * sd)],
                                    rel=1e-5)
    assert m["p"] == pytest.approx(un["p"], rel=1e-3)

    adj = lifelines_fit({"x": x, "h": h}, t, d).summary.loc["x"]
    m = res["models"]["adjusted_for_risk"]
    assert m["covariates"] == ["predicted_log_risk"]
    assert m["hr_per_sd"] == pytest.approx(math.exp(adj["coef"] * sd), rel=1e-5)

    dummies = pd.get_dummies(pd.DataFrame({"group": group, "sex": cov["sex"]}), drop_first=True, dtype=float)
    full = lifelines_fit({"x": x, "h": h, "age": cov["age"], **dummies}, t, d).summary.loc["x"]
    m = res["models"]["adjusted_for_risk_and_covariates"]
    assert m["covariates"] == ["predicted_log_risk", "group=b", "group=c", "age", "sex=m"]
    assert m["hr_per_sd"] == pytest.approx(math.exp(full["coef"] * sd), rel=1e-5)
    assert m["n"] == len(x) and m["n_events"] == int(d.sum())
    # adjusting for the confounder h (correlated with x) moves the estimate
    assert res["models"]["unadjusted"]["hr_per_sd"] > res["models"]["adjusted_for_risk"]["hr_per_sd"]


def test_full_model_uses_complete_cases_and_says_when_absent() -> None:
    x, t, d, h, rng = cohort()
    age = rng.normal(60, 10, len(x))
    age[:20] = np.nan
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, covariates=pd.DataFrame({"age": age}),
                              bootstrap=0, permutations=0)
    m = res["models"]["adjusted_for_risk_and_covariates"]
    assert m["n"] == len(x) - 20 and m["covariates"] == ["predicted_log_risk", "age"]
    keep = slice(20, None)
    sd = np.std(x, ddof=1)  # the per-SD unit is the full sample's
    ref = lifelines_fit({"x": x[keep], "h": h[keep], "age": age[keep]}, t[keep], d[keep]).params_["x"]
    assert m["hr_per_sd"] == pytest.approx(math.exp(ref * sd), rel=1e-5)
    assert math.isnan(m["ci_bootstrap"][0])  # bootstrap=0 skips it

    res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=0, permutations=0)
    m = res["models"]["adjusted_for_risk_and_covariates"]
    assert m["reason"] == "no group or covariates given" and math.isnan(m["hr_per_sd"])


def test_bootstrap_ci_brackets_estimate_and_permutation_p() -> None:
    x, t, d, h, _ = cohort(n=200, effect=0.8)
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=200, permutations=99, seed=1)
    for name in ("unadjusted", "adjusted_for_risk"):
        m = res["models"][name]
        lo, hi = m["ci_bootstrap"]
        assert m["n_bootstrap_ok"] == 200
        assert lo < m["hr_per_sd"] < hi
        # percentile bootstrap and Wald CI agree on the log scale within 35 % of the width
        width = math.log(m["ci"][1]) - math.log(m["ci"][0])
        assert abs(math.log(lo) - math.log(m["ci"][0])) < 0.35 * width
        assert abs(math.log(hi) - math.log(m["ci"][1])) < 0.35 * width
    # a strong effect: no permutation reaches it, so p is the smallest possible value
    assert res["models"]["unadjusted"]["p_permutation"] == pytest.approx(1 / 100)

    # no association: x independent of the outcome; p is a valid permutation p-value
    rng = np.random.default_rng(9)
    noise = rng.normal(size=len(x))
    null = prognostic_analysis(noise, t, d, predicted_log_risk=h, bootstrap=0, permutations=99, seed=2)
    p = null["models"]["unadjusted"]["p_permutation"]
    k = round(p * 100) - 1
    assert 0 <= k <= 99 and p == pytest.approx((1 + k) / 100)
    assert p > 0.01 + 1e-12  # the Wald p of this null covariate is far from significant
    assert null["models"]["unadjusted"]["p"] > 0.05


def test_same_seed_same_result_other_seed_other_bootstrap() -> None:
    x, t, d, h, _ = cohort(n=100)
    a = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=40, permutations=40, seed=5)
    b = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=40, permutations=40, seed=5)
    c = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=40, permutations=40, seed=6)
    assert json.dumps(a) == json.dumps(b)
    assert a["models"]["unadjusted"]["ci_bootstrap"] != c["models"]["unadjusted"]["ci_bootstrap"]


def test_kaplan_meier_split_and_logrank_equal_lifelines() -> None:
    x, t, d, h, _ = cohort()
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=0, permutations=0)
    km = res["km_median_split"]
    high = x > np.median(x)
    assert km["threshold"] == pytest.approx(np.median(x))
    for label, mask in (("high", high), ("low", ~high)):
        ref = KaplanMeierFitter().fit(t[mask], d[mask]).survival_function_.iloc[:, 0]
        g = km["groups"][label]
        assert g["n"] == mask.sum() and g["n_events"] == d[mask].sum()
        np.testing.assert_allclose(g["times"], ref.index.to_numpy())
        np.testing.assert_allclose(g["survival"], ref.to_numpy())
    lr = logrank_test(t[high], t[~high], d[high], d[~high])
    assert km["logrank_p"] == pytest.approx(lr.p_value) and km["logrank_chi2"] == pytest.approx(lr.test_statistic)


def test_quartile_trend_is_cox_on_the_quartile_index() -> None:
    x, t, d, h, _ = cohort()
    q = quartile_index(x)
    ranks = np.argsort(np.argsort(x))  # distinct values: quartile = floor(4 rank / n)
    np.testing.assert_array_equal(q, (4 * ranks) // len(x))
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=0, permutations=0)["quartile_trend"]
    ref = lifelines_fit({"q": q}, t, d).summary.loc["q"]
    assert res["hr_per_quartile"] == pytest.approx(ref["exp(coef)"], rel=1e-5)
    assert res["p"] == pytest.approx(ref["p"], rel=1e-3)
    assert res["global_logrank_p"] == pytest.approx(multivariate_logrank_test(t, q, d).p_value)
    assert res["n_per_quartile"] == [40, 40, 40, 40]


def test_rmst_difference_closed_form_without_censoring() -> None:
    rng = np.random.default_rng(4)
    n = 120
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-0.7 * x))
    d = np.ones(n, dtype=int)
    res = prognostic_analysis(x, t, d, predicted_log_risk=np.zeros(n), bootstrap=50, permutations=0)["rmst"]
    high = x > np.median(x)
    tau = min(np.quantile(t, 0.9), t[high].max(), t[~high].max())
    assert res["tau"] == pytest.approx(tau)
    # with no censoring the KM curve is the empirical survival function: RMST = mean min(T, tau)
    assert res["high"] == pytest.approx(np.minimum(t[high], tau).mean())
    assert res["low"] == pytest.approx(np.minimum(t[~high], tau).mean())
    assert res["difference"] == pytest.approx(res["high"] - res["low"])
    assert res["ci_bootstrap"][0] < res["difference"] < res["ci_bootstrap"][1]


def test_vectorised_km_rmst_equals_lifelines_with_censoring_and_ties() -> None:
    _, t, d, _, _ = cohort()
    km = KaplanMeierFitter().fit(t, d)
    for tau in (0.1, float(np.median(t)), float(t.max()), float(t.max()) + 3):
        assert km_rmst(t, d, tau) == pytest.approx(restricted_mean_survival_time(km, t=tau), rel=1e-10)


@pytest.mark.parametrize(
    "case, why",
    [("constant", "constant"), ("few_events", "too few events"), ("few_patients", "too few patients")],
)
def test_degenerate_inputs_give_reason_and_nan(case: str, why: str, tmp_path) -> None:
    x, t, d, h, _ = cohort(n=60)
    if case == "constant":
        x = np.full_like(x, 0.25)
    elif case == "few_events":
        d = np.zeros_like(d)
        d[:3] = 1
    else:
        x, t, d, h = x[:6], t[:6], d[:6], h[:6]
    res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=10, permutations=10)
    assert res["ok"] is False and why in res["reason"]
    for m in res["models"].values():
        assert math.isnan(m["hr_per_sd"])
    assert math.isnan(res["rmst"]["difference"]) and math.isnan(res["km_median_split"]["logrank_p"])
    write_json_atomic(tmp_path / "p.json", res)  # JSON-able: NaN becomes null
    assert json.loads((tmp_path / "p.json").read_text())["models"]["unadjusted"]["hr_per_sd"] is None


def test_collinear_risk_and_separation_are_reported_not_fitted() -> None:
    x, t, d, _, _ = cohort(n=80)
    res = prognostic_analysis(x, t, d, predicted_log_risk=3 * x + 1, bootstrap=10, permutations=10)
    assert res["models"]["unadjusted"]["hr_per_sd"] > 0  # still estimable on its own
    adj = res["models"]["adjusted_for_risk"]
    assert "collinear" in adj["reason"] and math.isnan(adj["hr_per_sd"])

    t = np.arange(1.0, 41.0)
    res = prognostic_analysis(-t, t, np.ones(40), predicted_log_risk=np.cos(t), bootstrap=10, permutations=10)
    un = res["models"]["unadjusted"]
    assert "no finite maximum" in un["reason"]
    assert math.isnan(un["hr_per_sd"]) and math.isnan(un["p_permutation"])
    assert "no finite maximum" in res["quartile_trend"]["reason"]


def test_bad_inputs_raise_intersurv_error() -> None:
    x, t, d, h, _ = cohort(n=30)
    bad = x.copy()
    bad[4] = np.nan
    with pytest.raises(IntersurvError, match="local_interaction has 1 non-finite value.*row 4"):
        prognostic_analysis(bad, t, d, predicted_log_risk=h)
    with pytest.raises(IntersurvError, match="predicted_log_risk has 29 values"):
        prognostic_analysis(x, t, d, predicted_log_risk=h[:-1])
    with pytest.raises(IntersurvError, match="group has 3 values"):
        prognostic_analysis(x, t, d, predicted_log_risk=h, group=["a", "b", "c"])


def test_interaction_that_is_float_noise_is_not_analysed() -> None:
    # late fusion: h = f1 + f2 exactly, so its local InterSHAP is float32 rounding (sd ~1e-8)
    x, t, d, h, rng = cohort(n=120)
    noise = np.abs(rng.normal(scale=2.4e-8, size=len(x)))  # a share: |phi_12| / sum |phi|
    res = prognostic_analysis(noise, t, d, predicted_log_risk=h, bootstrap=10, permutations=10)
    assert res["ok"] is False and "no interaction to analyse" in res["reason"]
    assert math.isnan(res["models"]["unadjusted"]["hr_per_sd"]) and not res["km_median_split"]["groups"]
    # a small but genuine interaction (1e-3 of the log-risk scale) is still analysed
    real = prognostic_analysis(1e-3 * x, t, d, predicted_log_risk=h, bootstrap=0, permutations=0)
    assert real["ok"] is True and real["models"]["unadjusted"]["hr_per_sd"] > 1


def test_lifelines_convergence_warnings_become_one_log_line(monkeypatch, caplog) -> None:
    import warnings

    from lifelines.exceptions import ConvergenceWarning

    original = CoxPHFitter.fit

    def noisy_fit(self, *args, **kwargs):
        warnings.warn("Newton-Raphson convergence completed successfully but norm(delta) is still high, "
                      "0.701. This may imply non-unique solutions", ConvergenceWarning)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CoxPHFitter, "fit", noisy_fit)
    x, t, d, h, _ = cohort(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level("INFO", logger="intersurv"):
            res = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=0, permutations=0)
    assert res["ok"] and res["models"]["unadjusted"]["hr_per_sd"] > 0
    assert "Cox fit on interaction_per_sd: Newton-Raphson convergence completed successfully" in caplog.text
    assert "This may imply" not in caplog.text


def test_newton_cox_raises_no_numpy_warning_far_from_the_optimum() -> None:
    import warnings

    # nearly separated data on a large scale: a first Newton step underflows every weight of late risk sets
    rng = np.random.default_rng(0)
    x = rng.normal(size=30) * 100
    t = np.argsort(np.argsort(-x + rng.normal(size=30) * 0.1)).astype(float) + 1
    d = (rng.random(30) < 0.5).astype(float)
    d[0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cox_fit(x[:, None], t, d)

