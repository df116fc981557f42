"""Input transforms (standardize, clip, rank_normal): closed forms and scipy references, fitted on
training patients only and saved with the model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from intersurv.errors import IntersurvError
from intersurv.training.fit import fit
from intersurv.training.fitted import FittedModel
from intersurv.training.standardize import CLIP, KNOTS, Standardizer, hazen_knots, interp_columns

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


def test_vectorised_knots_and_interpolation_are_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for trial in range(200):  # ties, values on knots, outside the knots, a single knot
        k, n, d = (int(v) for v in rng.integers(1, 20, size=3))
        xp = np.sort(rng.integers(0, 8, size=(k, d)).astype(np.float32) * 0.5, axis=0)
        fp = (np.arange(k) + 0.5) / k
        x = (rng.integers(-2, 18, size=(n, d)) * 0.25 + (trial % 2) * rng.normal(0, 0.1, (n, d))).astype(np.float32)
        expected = np.column_stack([np.interp(x[:, j], xp[:, j], fp) for j in range(d)])
        np.testing.assert_array_equal(interp_columns(x, xp, fp), expected)
        sample = rng.standard_t(2, size=(n * 7, d)) if trial % 2 else rng.integers(0, 4, (n * 7, d)).astype(float)
        m = min(len(sample), KNOTS)
        np.testing.assert_array_equal(hazen_knots(sample, m),
                                      np.quantile(sample, (np.arange(m) + 0.5) / m, axis=0, method="hazen"))


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
