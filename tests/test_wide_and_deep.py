"""The linear skip term (hyperparameter ``skip``, models/wide.py): at initialisation
the model is the deep network (``zero``) or the linear Cox (``cox``); late fusion
with it stays additive; ``fit`` starts ``cox`` at the elastic-net Cox of its
transformed inputs and keeps it fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intersurv.errors import IntersurvError
from intersurv.interactions import explain
from intersurv.models import ARCHITECTURES, build_model, count_parameters
from intersurv.training.fit import fit
from intersurv.training.fitted import FittedModel
from intersurv.training.linear import _coxnet, choose_alpha

from test_fit import toy_cohort

NETWORKS = ["early", "late", "cross_attention", "bilinear", "gated", "kronecker", "unimodal:a"]
W = {"a": 5, "b": 3}


def inputs(n: int = 9) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {m: torch.randn(n, d, generator=g) for m, d in W.items()}


@pytest.mark.parametrize("arch", NETWORKS)
def test_at_initialisation_zero_is_the_network_and_cox_is_the_linear_model(arch: str) -> None:
    x = inputs()
    torch.manual_seed(0)
    plain = build_model(arch, W).eval()
    torch.manual_seed(0)
    zero = build_model(arch, W, skip="zero").eval()
    assert zero.hyper["skip"] == "zero"
    torch.testing.assert_close(zero(x), plain(x), rtol=0, atol=0)
    # one more trainable weight per input feature, plus the gain
    assert count_parameters(zero) == count_parameters(plain) + sum(W[m] for m in zero.modalities) + 1

    cox = build_model(arch, W, skip="cox").eval()
    beta = np.linspace(-1.0, 1.0, sum(W[m] for m in cox.modalities))
    cox.set_wide(beta)
    z = torch.cat([x[m] for m in cox.modalities], dim=1)
    torch.testing.assert_close(cox(x), z @ torch.tensor(beta, dtype=torch.float32))
    # the fixed linear term is not trained; the network behind it is
    assert not cox.wide.weight.requires_grad and count_parameters(cox) == count_parameters(plain) + 1


def test_only_networks_take_skip_and_bad_values_are_one_line_errors() -> None:
    assert ARCHITECTURES["gated"].defaults()["skip"] == "none"
    assert "skip" not in ARCHITECTURES["linear"].defaults()
    with pytest.raises(IntersurvError, match="skip must be one of none, zero, cox, got 'yes'"):
        build_model("late", W, skip="yes")
    with pytest.raises(IntersurvError, match="has no hyperparameter 'skip'"):
        build_model("linear:a", W, skip="zero")


def test_late_fusion_with_skip_stays_additive() -> None:
    c = toy_cohort(n=120, m=2)
    for skip in ("zero", "cox"):
        model = fit(c, "late", seed=1, max_epochs=40, patience=10, skip=skip, inner_folds=3)
        exp = explain(model, c.subset(range(30)), reference=c.subset(range(30, 120)))
        assert abs(model(c.X)).max() > 0.1  # it learned something
        # zero up to float32 rounding, as late fusion without the skip term (test_interactions_explain)
        assert exp.score() < 1e-5
        assert np.abs(exp.matrix[:, 0, 1]).max() <= 1e-5 * np.abs(exp.coalition_values).max()
    # whereas a gated network with a skip term is not additive
    gated = fit(c, "gated", seed=1, max_epochs=40, patience=10, skip="zero")
    assert explain(gated, c.subset(range(30)), reference=c.subset(range(30, 120))).score() > 1e-3


def test_fit_starts_cox_at_the_elastic_net_of_its_inputs_and_keeps_it(tmp_path) -> None:
    c = toy_cohort(n=120, m=2)
    model = fit(c, "early", seed=2, max_epochs=30, patience=5, skip="cox", inner_folds=3, l1_ratio=0.5,
                transform="standardize")
    # the elastic-net Cox of the transformed inputs of all the patients given, penalty by inner CV
    z = np.concatenate([model.standardizer.transform(c.modalities)[m] for m in ["a", "b"]], axis=1)
    z = z.astype(np.float64)
    alphas, _, cv = choose_alpha(z, c.time, c.event, 0.5, 3, 2)
    _, coef = _coxnet(z, c.time, c.event, 0.5, alphas)
    beta = coef[:, min(int(np.argmax(cv)), coef.shape[1] - 1)]
    assert np.count_nonzero(beta) > 0
    np.testing.assert_allclose(model.module.wide.weight.detach().numpy().ravel(), beta, rtol=1e-5, atol=1e-6)
    assert model.hyper["skip"] == "cox"


def test_cox_skip_returns_the_linear_model_when_no_epoch_improves_on_it() -> None:
    # a step size far too large: every epoch is worse on the validation part than epoch 0
    c = toy_cohort(n=120, m=2)
    model = fit(c, "gated", seed=0, max_epochs=10, patience=3, skip="cox", inner_folds=3, lr=5.0)
    assert model.best_epoch == 0 and model.module.gain.item() == 0.0
    z = np.concatenate([model.standardizer.transform(c.modalities)[m] for m in ["a", "b"]], axis=1)
    beta = model.module.wide.weight.detach().numpy().ravel()
    np.testing.assert_allclose(model(c.X), z @ beta, rtol=1e-5, atol=1e-5)
