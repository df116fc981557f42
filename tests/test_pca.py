"""Principal-component reduction of wide modalities (training/pca.py): the noise
edge, agreement with scikit-learn's whitened PCA, which modalities are reduced,
and how the reduction travels with a fitted model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from intersurv import Cohort
from intersurv.errors import IntersurvError
from intersurv.training import FittedModel, fit
from intersurv.training.pca import MAX_COMPONENTS, PrincipalAxes, noise_edge


def spiked(n: int, d: int, factors: int, seed: int = 0) -> np.ndarray:
    """Standardised (n, d) features: `factors` latent factors, each loading on its own block of d // 10."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    block = d // 10
    for f in range(factors):
        x[:, f * block:(f + 1) * block] += rng.standard_normal((n, 1)) * rng.uniform(0.8, 1.2, block)
    return (x - x.mean(0)) / x.std(0)


def test_noise_edge_is_the_marchenko_pastur_upper_edge() -> None:
    assert noise_edge(100, 100) == pytest.approx(4.0)
    assert noise_edge(400, 100) == pytest.approx(2.25)
    # pure noise: the largest sample eigenvalue of the correlation matrix sits just below the edge
    z = spiked(300, 900, factors=0)
    lam = np.linalg.svd(z, compute_uv=False) ** 2 / 300
    assert 0.9 * noise_edge(300, 900) < lam[0] < 1.05 * noise_edge(300, 900)


@pytest.mark.parametrize("factors", [1, 3, 6])
def test_auto_keeps_the_components_above_the_noise_edge(factors: int) -> None:
    z = spiked(200, 600, factors)
    axes = PrincipalAxes.fit({"wsi": z}, "auto")
    assert axes.axes["wsi"].shape == (600, factors)
    scores = axes.transform({"wsi": z.astype(np.float32)})["wsi"]
    # whitened: unit variance, uncorrelated over the training patients
    np.testing.assert_allclose(np.cov(scores.T, bias=True).reshape(factors, factors), np.eye(factors), atol=1e-4)
    assert 0 < axes.variance_share["wsi"] < 1


def test_scores_equal_scikit_learns_whitened_pca_up_to_sign() -> None:
    z = spiked(150, 400, factors=4, seed=3)
    ours = PrincipalAxes.fit({"m": z}, reduce=4).transform({"m": z})["m"]
    ref = PCA(n_components=4, whiten=True, svd_solver="full").fit_transform(z)
    ref *= np.sqrt(len(z) / (len(z) - 1))  # scikit-learn's variances divide by n - 1, ours by n
    signs = np.sign((ours * ref).sum(0))
    np.testing.assert_allclose(ours, ref * signs, atol=1e-4)
    a = PrincipalAxes.fit({"m": z}, reduce=4).axes["m"]
    assert (a[np.abs(a).argmax(0), np.arange(4)] > 0).all()  # sign convention


def test_which_modalities_are_reduced() -> None:
    wide, narrow = spiked(100, 300, 2), spiked(100, 20, 2)
    auto = PrincipalAxes.fit({"wide": wide, "narrow": narrow}, "auto")
    assert list(auto.axes) == ["wide"]
    assert auto.widths({"wide": 300, "narrow": 20}) == {"wide": 2, "narrow": 20}
    fixed = PrincipalAxes.fit({"wide": wide, "narrow": narrow}, reduce=10)
    assert {m: a.shape[1] for m, a in fixed.axes.items()} == {"wide": 10, "narrow": 10}
    assert PrincipalAxes.fit({"wide": wide, "narrow": narrow}, reduce=50).widths({"wide": 300, "narrow": 20}) \
        == {"wide": 50, "narrow": 20}
    assert PrincipalAxes.fit({"wide": wide}, reduce="none").axes == {}
    # many strong factors: auto stops at MAX_COMPONENTS
    many = np.random.default_rng(0).standard_normal((100, 40)) @ np.random.default_rng(1).standard_normal((40, 2000))
    assert PrincipalAxes.fit({"m": many}, "auto").axes["m"].shape[1] == MAX_COMPONENTS


@pytest.mark.parametrize("bad", ["pca", 0, -3, 2.5, True, None])
def test_bad_reduce_is_a_one_line_error(bad: object) -> None:
    with pytest.raises(IntersurvError, match="reduce must be"):
        PrincipalAxes.fit({"m": spiked(20, 30, 1)}, reduce=bad)  # type: ignore[arg-type]


def wide_cohort(n: int = 60) -> Cohort:
    rng = np.random.default_rng(5)
    fa, fb = rng.standard_normal((n, 1)), rng.standard_normal((n, 1))
    a = fa @ rng.uniform(0.5, 1.5, (1, 200)) + rng.standard_normal((n, 200))
    b = fb @ rng.uniform(0.5, 1.5, (1, 8)) + 0.5 * rng.standard_normal((n, 8))
    t = rng.exponential(np.exp(-(fa[:, 0] + fb[:, 0])))
    return Cohort(ids=[f"P{i}" for i in range(n)], time=t + 1e-3, event=np.ones(n, int),
                  modalities={"a": (10 * a + 3).astype(np.float32), "b": b.astype(np.float32)}, name="wide")


def test_fit_reduces_wide_modalities_and_saves_the_axes(tmp_path) -> None:
    c = wide_cohort()
    model = fit(c, "early", seed=0, max_epochs=5, hidden=4, reduce="auto", transform="standardize")
    k = model.axes.axes["a"].shape[1]
    assert "b" not in model.axes.axes and 1 <= k < 200
    assert model.module.net[0].in_features == k + 8
    assert model.settings["reduce"] == "auto"
    # the reduction is linear: the model at the raw mean is the network at the mean scores (0)
    mean = {m: x.mean(0, keepdims=True) for m, x in model.reference.items()}
    z = model.axes.transform(model.standardizer.transform(mean))
    assert np.abs(z["a"]).max() < 1e-4
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())
    assert cfg["reduction"]["a"]["components"] == k and cfg["settings"]["reduce"] == "auto"
    back = FittedModel.load(tmp_path / "m")
    np.testing.assert_array_equal(back(c.X), model(c.X))
    np.testing.assert_array_equal(back.axes.axes["a"], model.axes.axes["a"])
    assert fit(c, "early", seed=0, max_epochs=2, hidden=4).module.net[0].in_features == 208
    with pytest.raises(IntersurvError, match="reduce must be"):
        fit(c, "early", reduce="all")
