"""The linear reference models ``linear:<m>`` and ``clinical``: fitted by elastic-net Cox
(scikit-survival) with the penalty chosen by inner CV, used like any FittedModel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from intersurv.audit.step import OverAllModalities
from intersurv.cohort import Cohort
from intersurv.errors import CohortError, IntersurvError
from intersurv.interactions import explain
from intersurv.metrics import harrell_c
from intersurv.models import expand_architectures
from intersurv.training.fit import fit
from intersurv.training.fitted import FittedModel
from intersurv.training.linear import _coxnet
from intersurv.training.splits import kfold_splits


def linear_cohort(n: int = 240, seed: int = 0) -> Cohort:
    """Cox data, continuous times: h = 0.8 a_0 - 0.6 b_1 + 0.5 age_z; modalities of different scales."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 5)) * 10 + 3
    b = rng.normal(size=(n, 4))
    age = rng.normal(60, 10, n)
    h = 0.8 * (a[:, 0] - 3) / 10 - 0.6 * b[:, 1] + 0.5 * (age - 60) / 10
    t = rng.exponential(np.exp(-h))
    c = rng.exponential(2.0, n)
    return Cohort(ids=[f"P{i}" for i in range(n)], time=np.minimum(t, c), event=(t <= c).astype(int),
                  modalities={"a": a, "b": b}, covariates=pd.DataFrame({"age": age, "grade": rng.integers(2, 5, n)}),
                  name="lin")


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return linear_cohort()


def test_linear_model_is_the_coxnet_fit_at_the_inner_cv_penalty(cohort: Cohort) -> None:
    model = fit(cohort, "linear:a", seed=3, l1_ratio=0.5, inner_folds=4, transform="standardize")
    x = cohort.modalities["a"].astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mu) / sd
    # inner CV by hand: held-out Harrell C of every penalty on the same folds
    alphas, _ = _coxnet(z, cohort.time, cohort.event, 0.5, None)
    cv = np.zeros(len(alphas))
    for s in kfold_splits(cohort.event, 4, 3):
        _, coef = _coxnet(z[s.train], cohort.time[s.train], cohort.event[s.train], 0.5, alphas)
        cv += [harrell_c(z[s.test] @ coef[:, j], cohort.time[s.test], cohort.event[s.test])
               for j in range(len(alphas))]
    best = int(np.argmax(cv))
    assert model.settings["alpha"] == pytest.approx(alphas[best])
    _, coef = _coxnet(z, cohort.time, cohort.event, 0.5, alphas)
    np.testing.assert_allclose(model(cohort.X), z @ coef[:, best], rtol=1e-4, atol=1e-4)
    assert model.best_epoch == 0 and model.val_ids == [] and len(model.train_ids) == cohort.n_patients


def test_linear_model_finds_the_signal_and_round_trips(cohort: Cohort, tmp_path) -> None:
    train, test = cohort.subset(range(180)), cohort.subset(range(180, 240))
    model = fit(train, "linear:a", seed=0)
    beta = model.module.linear.weight.detach().numpy().ravel()
    assert np.argmax(np.abs(beta)) == 0 and beta[0] > 0
    assert harrell_c(model(test.X), test.time, test.event) > 0.6
    model.save(tmp_path / "m")
    back = FittedModel.load(tmp_path / "m")
    assert back.arch == "linear:a" and back.settings == model.settings
    np.testing.assert_array_equal(back(test.X), model(test.X))
    np.testing.assert_allclose(back.predict_survival(test.X, [0.5, 1.0]), model.predict_survival(test.X, [0.5, 1.0]))


def test_clinical_needs_the_covariates_as_a_modality(cohort: Cohort) -> None:
    with pytest.raises(IntersurvError, match="covariates_as_modality"):
        fit(cohort, "clinical")
    with_clin = cohort.with_covariates_modality()
    assert with_clin.kinds["clinical"] == "clinical" and with_clin.feature_names["clinical"] == ["age", "grade"]
    model = fit(with_clin, "clinical", seed=0)
    assert model.modalities == ["clinical"]
    assert harrell_c(model(with_clin.X), with_clin.time, with_clin.event) > 0.55
    # a linear model explained over every modality: no interaction, no share for unused modalities
    over_all = OverAllModalities(model, with_clin.modality_names)
    exp = explain(over_all, with_clin.subset(range(40)), reference=with_clin.subset(range(40, 240)))
    assert exp.score() == pytest.approx(0.0, abs=1e-6)
    assert exp.shares()["a"] == pytest.approx(0.0, abs=1e-6)


def test_covariates_as_modality_errors(cohort: Cohort) -> None:
    with pytest.raises(CohortError, match="exists already"):
        cohort.with_covariates_modality("a")
    text = Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=cohort.modalities,
                  covariates=pd.DataFrame({"site": ["x"] * cohort.n_patients}))
    with pytest.raises(CohortError, match="'site' is not numeric"):
        text.with_covariates_modality()


def test_architecture_names_expand() -> None:
    assert expand_architectures(["unimodal", "linear", "late"], ["a", "b"]) == [
        "unimodal:a", "unimodal:b", "linear:a", "linear:b", "late"]
    assert expand_architectures(["linear", "clinical"], ["a", "clinical"]) == ["linear:a", "clinical"]
    with pytest.raises(IntersurvError, match="unknown architecture 'linear'"):
        fit(linear_cohort(n=40), "linear")


@pytest.mark.parametrize("kw, msg", [({"l1_ratio": 0.0}, "l1_ratio"), ({"inner_folds": 1}, "inner_folds")])
def test_bad_linear_options(cohort: Cohort, kw: dict, msg: str) -> None:
    with pytest.raises(IntersurvError, match=msg):
        fit(cohort, "linear:b", **kw)
