"""Cox loss and Breslow baseline against torchsurv, scikit-survival and lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import intersurv
from intersurv.survival import BreslowBaseline, cox_nll


def tied_data(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 12, n).astype(float)  # many ties
    event = (rng.random(n) < 0.6).astype(int)
    h = rng.normal(size=n)
    return h, time, event


def test_cox_nll_equals_torchsurv_without_ties() -> None:
    """torchsurv computes in float32 and (0.2.0) falls back to Breslow on ties: compare untied data."""
    from torchsurv.loss.cox import neg_partial_log_likelihood

    rng = np.random.default_rng(0)
    h, time, event = rng.normal(size=80), rng.random(80) * 10, rng.random(80) < 0.6
    ref = neg_partial_log_likelihood(torch.tensor(h), torch.tensor(event), torch.tensor(time), reduction="mean")
    for ties in ("efron", "breslow"):
        ours = cox_nll(torch.tensor(h), torch.tensor(time), torch.tensor(event), ties=ties)
        assert float(ours) == pytest.approx(float(ref), rel=1e-6)


def loop_cox_nll(h, time, event, ties):
    """The partial likelihood written out time by time (the module docstring's formula)."""
    ll = 0.0
    for t in np.unique(time[event == 1]):
        dead = (time == t) & (event == 1)
        risk = np.exp(h[time >= t]).sum()
        tied = np.exp(h[dead]).sum()
        d = int(dead.sum())
        ll += h[dead].sum()
        for l in range(d):
            ll -= np.log(risk - (l / d) * tied if ties == "efron" else risk)
    return -ll / event.sum()


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_nll_with_ties_equals_the_formula(ties: str) -> None:
    h, time, event = tied_data()
    ours = cox_nll(torch.tensor(h), torch.tensor(time), torch.tensor(event), ties=ties)
    assert float(ours) == pytest.approx(loop_cox_nll(h, time, event, ties), rel=1e-12)


def test_cox_nll_is_order_invariant_and_shift_invariant() -> None:
    h, time, event = tied_data()
    perm = np.random.default_rng(1).permutation(len(h))
    a = cox_nll(torch.tensor(h), torch.tensor(time), torch.tensor(event))
    b = cox_nll(torch.tensor(h[perm]), torch.tensor(time[perm]), torch.tensor(event[perm]))
    c = cox_nll(torch.tensor(h + 500.0), torch.tensor(time), torch.tensor(event))  # no overflow
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert float(a) == pytest.approx(float(c), rel=1e-9)


def test_cox_nll_breslow_closed_form_without_ties() -> None:
    h = np.array([0.5, -1.0, 2.0, 0.0])
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([1, 0, 1, 1])
    w = np.exp(h)
    expected = -((h[0] - np.log(w.sum())) + (h[2] - np.log(w[2:].sum())) + (h[3] - np.log(w[3]))) / 3
    for ties in ("efron", "breslow"):
        assert float(cox_nll(torch.tensor(h), torch.tensor(time), torch.tensor(event), ties)) == pytest.approx(expected)


def test_cox_nll_without_events_is_zero_with_gradient() -> None:
    h = torch.zeros(3, requires_grad=True)
    loss = cox_nll(h, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 0, 0]))
    loss.backward()
    assert float(loss) == 0.0 and torch.all(h.grad == 0)


def fit_linear_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str) -> np.ndarray:
    """Minimise cox_nll over a linear log-risk with L-BFGS in float64."""
    xt, tt, et = torch.tensor(x), torch.tensor(time), torch.tensor(event)
    beta = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([beta], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = cox_nll(xt @ beta, tt, et, ties=ties)
        loss.backward()
        return loss

    opt.step(closure)
    return beta.detach().numpy()


def breast_cancer_design(months: bool = False):
    c = intersurv.load_cohort("breast-cancer")
    x = c.modalities["clinical"].astype(np.float64)
    x = (x - x.mean(0)) / x.std(0)
    time = np.ceil(c.time / 30.4375) if months else c.time  # monthly times have ties
    return x, time, c.event.astype(int)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("months", [False, True])
def test_linear_cox_recovers_scikit_survival(ties: str, months: bool) -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    x, time, event = breast_cancer_design(months)
    ours = fit_linear_cox(x, time, event, ties)
    ref = CoxPHSurvivalAnalysis(ties=ties, tol=1e-12, n_iter=200).fit(x, Surv.from_arrays(event.astype(bool), time))
    np.testing.assert_allclose(ours, ref.coef_, rtol=1e-4)


def test_linear_cox_recovers_lifelines_efron() -> None:
    from lifelines import CoxPHFitter

    x, time, event = breast_cancer_design(months=True)
    df = pd.DataFrame(x, columns=["age", "er", "grade", "size"]).assign(T=time, E=event)
    ref = CoxPHFitter().fit(df, "T", "E")
    ours = fit_linear_cox(x, time, event, "efron")
    np.testing.assert_allclose(ours, ref.params_[["age", "er", "grade", "size"]].to_numpy(), rtol=1e-4)


def test_breslow_survival_equals_scikit_survival() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    x, time, event = breast_cancer_design(months=True)
    model = CoxPHSurvivalAnalysis(ties="breslow").fit(x, Surv.from_arrays(event.astype(bool), time))
    h = model.predict(x)
    base = BreslowBaseline.fit(h, time, event)
    grid = np.unique(time)[:-1]
    ref = np.vstack([fn(grid) for fn in model.predict_survival_function(x[:20])])
    np.testing.assert_allclose(base.survival(h[:20], grid), ref, atol=1e-6)
    # between knots the step function holds its value; before the first time S = 1
    assert np.all(base.survival(h[:3], [0.5]) == 1.0)
    np.testing.assert_allclose(base.survival(h[:3], grid[3] + 0.5), base.survival(h[:3], grid[3]))


def test_breslow_rmst_is_area_under_the_step_function() -> None:
    h, time, event = tied_data()
    base = BreslowBaseline.fit(h, time, event)
    tau = 7.5
    fine = np.linspace(0, tau, 750001)[:-1]
    riemann = base.survival(h[:4], fine).sum(axis=1) * (tau / 750000)
    np.testing.assert_allclose(base.rmst(h[:4], tau), riemann, rtol=1e-5)


def test_breslow_round_trips_through_json() -> None:
    h, time, event = tied_data()
    base = BreslowBaseline.fit(h, time, event)
    again = BreslowBaseline.from_dict(base.to_dict())
    np.testing.assert_array_equal(again.survival(h, [3.0, 9.0]), base.survival(h, [3.0, 9.0]))
