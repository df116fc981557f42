"""cox_nll against torchsurv, a brute-force loop, scikit-survival and lifelines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import intersurv
from intersurv.errors import IntersurvError
from intersurv.survival import cox_nll


def _tied_data(n: int = 60, seed: int = 0, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    time = torch.randint(1, 12, (n,), generator=g).to(dtype)  # many tied times
    event = torch.rand(n, generator=g) < 0.6
    log_risk = torch.randn(n, generator=g, dtype=dtype)
    return log_risk, time, event


def _loop_nll(h: list[float], t: list[float], e: list[bool], ties: str) -> float:
    """Textbook partial likelihood, one distinct event time at a time."""
    loglik, n_events = 0.0, sum(e)
    for u in sorted({ti for ti, ei in zip(t, e) if ei}):
        dead = [hi for hi, ti, ei in zip(h, t, e) if ei and ti == u]
        risk = sum(math.exp(hi) for hi, ti in zip(h, t) if ti >= u)
        tied = sum(math.exp(hi) for hi in dead)
        loglik += sum(dead)
        for r in range(len(dead)):
            loglik -= math.log(risk - (r / len(dead) * tied if ties == "efron" else 0.0))
    return -loglik / n_events


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_matches_brute_force_loop_float64(ties):
    h, t, e = _tied_data()
    expected = _loop_nll(h.tolist(), t.tolist(), e.tolist(), ties)
    assert cox_nll(h, t, e, ties=ties).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_matches_torchsurv_float32(ties):
    from torchsurv.loss.cox import neg_partial_log_likelihood

    h, t, e = _tied_data(dtype=torch.float32)
    with pytest.warns(UserWarning):  # torchsurv warns about tied times
        ref = neg_partial_log_likelihood(h, e, t, ties_method=ties, reduction="sum") / e.sum()
    ours = cox_nll(h, t, e, ties=ties)
    assert ours.dtype == torch.float32
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)


def test_gradient_matches_finite_differences():
    h, t, e = _tied_data(n=25)
    h.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: cox_nll(x, t, e, ties="efron"), (h,))
    assert torch.autograd.gradcheck(lambda x: cox_nll(x, t, e, ties="breslow"), (h,))


def test_order_and_shape_invariant():
    h, t, e = _tied_data()
    perm = torch.randperm(h.numel(), generator=torch.Generator().manual_seed(3))
    a = cox_nll(h, t, e)
    assert cox_nll(h[perm], t[perm], e[perm]).item() == pytest.approx(a.item(), rel=1e-12)
    assert cox_nll(h.unsqueeze(1), t, e.to(torch.float64)).item() == pytest.approx(a.item(), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_for_huge_log_risks(dtype):
    h, t, e = _tied_data(dtype=dtype)
    # the partial likelihood is invariant to adding a constant; exp(h) would overflow here
    big = cox_nll(h + 5000.0, t, e)
    assert torch.isfinite(big)
    assert big.item() == pytest.approx(cox_nll(h, t, e).item(), rel=1e-4)
    spread = cox_nll(h * 400.0, t, e)
    assert torch.isfinite(spread)


def test_no_events_gives_zero_with_graph():
    h, t, _ = _tied_data()
    h.requires_grad_(True)
    loss = cox_nll(h, t, torch.zeros_like(t, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(h.grad == 0)


def test_bad_arguments_raise():
    h, t, e = _tied_data()
    with pytest.raises(IntersurvError, match="ties"):
        cox_nll(h, t, e, ties="exact")
    with pytest.raises(IntersurvError, match="lengths differ"):
        cox_nll(h[:-1], t, e)


def breast_cancer_design() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised clinical covariates, time (days) and event of the built-in breast-cancer cohort."""
    cohort = intersurv.load_cohort("breast-cancer")
    X = np.asarray(cohort.modalities["clinical"], dtype=np.float64)
    X = (X - X.mean(0)) / X.std(0)
    return X, np.asarray(cohort.time, dtype=np.float64), np.asarray(cohort.event, dtype=bool)


def fit_linear_cox(X: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str) -> np.ndarray:
    """Coefficients of a linear Cox model minimising cox_nll with L-BFGS in float64."""
    Xt, tt, et = torch.from_numpy(X), torch.from_numpy(time), torch.from_numpy(event)
    beta = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([beta], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = cox_nll(Xt @ beta, tt, et, ties=ties)
        loss.backward()
        return loss

    opt.step(closure)
    return beta.detach().numpy()


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_linear_cox_matches_sksurv(ties):
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    X, time, event = breast_cancer_design()
    ref = CoxPHSurvivalAnalysis(alpha=0.0, ties=ties, tol=1e-12, n_iter=200).fit(X, Surv.from_arrays(event, time))
    np.testing.assert_allclose(fit_linear_cox(X, time, event, ties), ref.coef_, rtol=1e-4)


def test_linear_cox_matches_lifelines_efron():
    from lifelines import CoxPHFitter

    X, time, event = breast_cancer_design()
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]).assign(T=time, E=event.astype(int))
    ref = CoxPHFitter(penalizer=0.0).fit(df, duration_col="T", event_col="E",
                                          fit_options={"precision": 1e-12, "max_steps": 200})
    np.testing.assert_allclose(fit_linear_cox(X, time, event, "efron"), ref.params_.to_numpy(), rtol=1e-4)
