"""Batched training (training/batched.py) against one-by-one fits, and the stacked Cox loss against cox_nll."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intersurv import Cohort
from intersurv.errors import IntersurvError
from intersurv.survival import cox_nll
from intersurv.survival.stacked import StackedCoxLoss
from intersurv.training import fit
from intersurv.training.batched import fit_batched

from test_fit import toy_cohort

SEEDS = [0, 1, 2, 7]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_stacked_loss_equals_cox_nll_per_data_set(ties: str) -> None:
    rng = np.random.default_rng(0)
    time = rng.integers(1, 8, size=(5, 40)).astype(float)  # many ties
    event = rng.uniform(size=(5, 40)) < 0.6
    h = torch.tensor(3 * rng.normal(size=(5, 40)), requires_grad=True)
    loss = StackedCoxLoss(time, event, ties)(h)
    ref = torch.stack([cox_nll(h[b], torch.tensor(time[b]), torch.tensor(event[b]), ties) for b in range(5)])
    assert torch.allclose(loss, ref, rtol=0, atol=1e-12)
    g, = torch.autograd.grad(loss.sum(), h)
    g_ref, = torch.autograd.grad(ref.sum(), h)
    assert torch.allclose(g, g_ref, rtol=0, atol=1e-12)
    keep = np.array([True, False, True, False, True])
    assert torch.allclose(StackedCoxLoss(time, event, ties).rows(keep)(h[torch.from_numpy(keep)]), ref[keep])


def test_stacked_loss_needs_events() -> None:
    with pytest.raises(IntersurvError, match="data set 1 of the stack has no events"):
        StackedCoxLoss(np.ones((2, 3)), np.array([[1, 0, 0], [0, 0, 0]]))


def _agree(one: list, batched: list, cohort: Cohort, atol: float) -> None:
    """Same epochs, losses and predictions. A Cox model's log-risk is identified up to a constant: the
    output bias gets a zero gradient up to rounding, which Adam's normalised steps turn into a drift of
    order lr x epochs in both fits alike. So log-risks are compared centred, and survival as is."""
    assert [m.best_epoch for m in batched] == [m.best_epoch for m in one]
    for a, b in zip(one, batched):
        assert a.val_ids == b.val_ids and a.settings == b.settings and a.hyper == b.hyper
        assert len(a.history["val"]) == len(b.history["val"])
        np.testing.assert_allclose(b.history["val"], a.history["val"], rtol=1e-4, atol=1e-5)
        h_a, h_b = a.predict_log_risk(cohort.X), b.predict_log_risk(cohort.X)
        np.testing.assert_allclose(h_b - h_b.mean(), h_a - h_a.mean(), rtol=0, atol=atol)
        times = np.quantile(cohort.time, [0.25, 0.5, 0.75])
        np.testing.assert_allclose(b.predict_survival(cohort.X, times), a.predict_survival(cohort.X, times),
                                   rtol=0, atol=atol)


@pytest.mark.parametrize("arch", ["late", "early", "bilinear", "gated", "kronecker", "cross_attention"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_batched_fits_agree_with_one_by_one(arch: str, dropout: float) -> None:
    """Same seeds and data: same best epochs (early stopping at different epochs) and predictions
    within float32 rounding; dropout masks are replayed per copy (cross-attention with dropout
    falls back to one-by-one fits)."""
    cohort = toy_cohort(n=100, m=2)
    kw = {"max_epochs": 30, "patience": 3, "hidden": 8, "dropout": dropout, "lr": 1e-2}
    one = [fit(cohort, arch, s, **kw) for s in SEEDS]
    batched = fit_batched(cohort, arch, SEEDS, **kw)
    assert len({m.best_epoch for m in one}) > 1  # copies stop at different epochs
    _agree(one, batched, cohort, atol=1e-3)


def test_copies_with_their_own_outcomes_and_weight_decay() -> None:
    """One cohort per copy (other outcomes, same features) with weight decay, M = 3."""
    base = toy_cohort(n=90, m=3)
    rng = np.random.default_rng(3)
    cohorts = [Cohort(ids=base.ids, time=rng.permutation(base.time), event=base.event, modalities=base.modalities,
                      name=f"draw {r}") for r in range(3)]
    kw = {"max_epochs": 20, "patience": 3, "hidden": [8, 4], "weight_decay": 0.05, "lr": 3e-3}
    one = [fit(c, "late", s, **kw) for c, s in zip(cohorts, [5, 5, 6])]
    batched = fit_batched(cohorts, "late", [5, 5, 6], **kw)
    _agree(one, batched, base, atol=1e-4)


def test_mini_batches_fall_back_to_one_by_one_fits() -> None:
    cohort = toy_cohort(n=60, m=2)
    kw = {"max_epochs": 4, "hidden": 4, "batch_size": 16}
    one = [fit(cohort, "gated", s, **kw) for s in (0, 1)]
    batched = fit_batched(cohort, "gated", [0, 1], **kw)
    for a, b in zip(one, batched):
        assert np.array_equal(a.predict_log_risk(cohort.X), b.predict_log_risk(cohort.X))


def test_bad_arguments() -> None:
    cohort = toy_cohort(n=40, m=2)
    with pytest.raises(IntersurvError, match="2 cohorts for 3 seeds"):
        fit_batched([cohort, cohort], "late", [0, 1, 2])
    with pytest.raises(IntersurvError, match="seed must be an integer"):
        fit_batched(cohort, "late", [0, 1.5])
    with pytest.raises(IntersurvError, match="patience"):
        fit_batched(cohort, "late", [0], patience=0)
