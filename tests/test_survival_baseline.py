"""BreslowBaseline against scikit-survival and closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_survival_loss import breast_cancer_design, fit_linear_cox

from intersurv.errors import IntersurvError
from intersurv.survival import BreslowBaseline


def _data(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.integers(1, 20, n).astype(float), rng.random(n) < 0.6


def test_cumulative_hazard_matches_sksurv_breslow_estimator_with_ties():
    from sksurv.linear_model.coxph import BreslowEstimator

    h, t, e = _data()
    ours = BreslowBaseline.fit(h, t, e)
    ref = BreslowEstimator().fit(h, e, t)
    grid = np.linspace(t.min(), t.max(), 97)
    np.testing.assert_allclose(ours.cumulative_hazard(grid), ref.cum_baseline_hazard_(grid), rtol=1e-12, atol=1e-14)


def test_closed_form_small_example():
    # times 1 (event), 2 (censored), 3 (two events), h = log 1, log 2, log 3, log 4
    base = BreslowBaseline.fit(np.log([1.0, 2.0, 3.0, 4.0]), [1.0, 2.0, 3.0, 3.0], [1, 0, 1, 1])
    np.testing.assert_allclose(base.times, [1.0, 3.0])
    np.testing.assert_allclose(base.cumhaz, [1 / 10, 1 / 10 + 2 / 7])
    np.testing.assert_allclose(base.cumulative_hazard([0.0, 0.999, 1.0, 2.5, 3.0, 99.0]),
                               [0, 0, 0.1, 0.1, 0.1 + 2 / 7, 0.1 + 2 / 7])
    S = base.survival([0.0, np.log(2.0)], [0.5, 2.0, 3.0])
    assert S.shape == (2, 3) and S.dtype == np.float64
    np.testing.assert_allclose(S[1], np.exp(-2 * np.array([0.0, 0.1, 0.1 + 2 / 7])))


def test_rmst_exact_for_the_step_function():
    base = BreslowBaseline(times=np.array([1.0, 3.0]), cumhaz=np.array([0.5, 1.0]))
    h = np.array([0.0, np.log(3.0)])
    expected = [1.0 + 2.0 * np.exp(-0.5) + 1.0 * np.exp(-1.0),
                1.0 + 2.0 * np.exp(-1.5) + 1.0 * np.exp(-3.0)]
    np.testing.assert_allclose(base.rmst(h, 4.0), expected, rtol=1e-14)
    np.testing.assert_allclose(base.rmst(h, 0.5), [0.5, 0.5])
    np.testing.assert_allclose(base.rmst(h, 3.0), [1.0 + 2.0 * np.exp(-0.5), 1.0 + 2.0 * np.exp(-1.5)])
    with pytest.raises(IntersurvError, match="tau"):
        base.rmst(h, 0.0)


def test_json_round_trip_and_bad_dicts():
    h, t, e = _data()
    base = BreslowBaseline.fit(h, t, e)
    back = BreslowBaseline.from_dict(json.loads(json.dumps(base.to_dict())))
    np.testing.assert_array_equal(back.times, base.times)
    np.testing.assert_array_equal(back.cumhaz, base.cumhaz)
    with pytest.raises(IntersurvError, match="breslow"):
        BreslowBaseline.from_dict({"times": [1.0]})
    with pytest.raises(IntersurvError, match="non-decreasing"):
        BreslowBaseline.from_dict({"method": "breslow", "times": [1.0, 2.0], "cumhaz": [0.5, 0.1]})
    with pytest.raises(IntersurvError, match="no events"):
        BreslowBaseline.fit(h, t, np.zeros_like(e))


def test_survival_curves_match_sksurv_cox_model():
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    X, time, event = breast_cancer_design()
    ref = CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow", tol=1e-12, n_iter=200).fit(X, Surv.from_arrays(event, time))
    beta = fit_linear_cox(X, time, event, "breslow")
    base = BreslowBaseline.fit(X @ beta, time, event)
    grid = np.unique(time)  # the domain of sksurv's step functions
    expected = np.stack([fn(grid) for fn in ref.predict_survival_function(X)])
    np.testing.assert_allclose(base.survival(X @ beta, grid), expected, atol=1e-6)
