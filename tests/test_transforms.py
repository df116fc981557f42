"""Input transforms (standardize, clip, rank_normal): closed forms and scipy references, fitted on
training patients only and saved with the model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from intersurv.errors import IntersurvError
from intersurv.training.fit import fit
from intersurv.training.fitted import FittedModel
from intersurv.training.standardize import CLIP, KNOTS, Standardizer

from test_linear_models import linear_cohort


def heavy(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_t(1.5, size=(n, d)) * 3 + 2).astype(np.float32)


def test_standardize_and_clip_closed_form() -> None:
    x = heavy(80, 5)
    s = Standardizer.fit({"a": x, "b": x}, {"a": "standardize", "b": "clip"})
    x64 = x.astype(np.float64)
    z = (x64 - x64.mean(0)) / x64.std(0)
    out = s.transform({"a": x, "b": x})
    np.testing.assert_allclose(out["a"], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["b"], np.clip(z, -CLIP, CLIP), rtol=1e-5, atol=1e-5)
    assert np.abs(z).max() > CLIP  # the clip did something


def test_rank_normal_is_scipy_van_der_waerden_on_training_data() -> None:
    x = heavy(100, 4)  # n <= KNOTS, no ties: exactly Phi^-1((rank - 1/2) / n)
    s = Standardizer.fit({"a": x}, "rank_normal")
    expected = norm.ppf((rankdata(x, axis=0) - 0.5) / len(x))
    np.testing.assert_allclose(s.transform({"a": x})["a"], expected, rtol=1e-5, atol=1e-5)


def test_rank_normal_new_values_monotone_bounded_and_constant_feature() -> None:
    x = heavy(400, 3)
    x[:, 2] = 7.0
    s = Standardizer.fit({"a": x}, "rank_normal")
    assert s.knots["a"].shape == (KNOTS, 3)
    grid = np.linspace(-1e4, 1e4, 2001, dtype=np.float32)[:, None].repeat(3, axis=1)
    z = s.transform({"a": grid})["a"]
    assert np.all(np.diff(z[:, 0]) >= 0) and np.all(np.diff(z[:, 1]) >= 0)
    assert np.abs(z).max() <= norm.ppf(1 - 0.5 / KNOTS) + 1e-5
    assert np.all(z[:, 2] == 0.0)
    # the training median maps to about 0
    med = np.median(x, axis=0, keepdims=True)
    assert np.abs(s.transform({"a": med})["a"][0, :2]).max() < 0.02


def test_transform_saved_with_the_model(tmp_path) -> None:
    c = linear_cohort(n=120)
    c = type(c)(ids=c.ids, time=c.time, event=c.event, modalities={"a": c.modalities["a"], "b": heavy(120, 4)},
                name="t")
    model = fit(c, "late", seed=0, max_epochs=5, transform={"b": "rank_normal"}, hidden=4)
    assert model.standardizer.method == {"a": "standardize", "b": "rank_normal"}
    model.save(tmp_path / "m")
    back = FittedModel.load(tmp_path / "m")
    np.testing.assert_array_equal(back(c.X), model(c.X))
    assert back.standardizer.method == model.standardizer.method


@pytest.mark.parametrize("transform, msg", [("log", "'log' of every modality"),
                                            ({"zz": "clip"}, "modality 'zz'"),
                                            ({"a": "nope"}, "'nope' of 'a'")])
def test_bad_transform(transform, msg: str) -> None:
    with pytest.raises(IntersurvError, match=msg):
        fit(linear_cohort(n=40), "late", transform=transform)
