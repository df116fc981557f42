"""The Möbius/Shapley/InterSHAP algebra and the aggregations, against shapiq and hand-derived values."""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pytest

from intersurv.errors import IntersurvError
from intersurv.interactions import Explanation
from intersurv.interactions.coalitions import coalition_members


def _cox_game(rng: np.random.Generator, n_mod: int, n: int) -> np.ndarray:
    """Coalition values of random Cox log-risk games: an additive part plus random interactions."""
    members = coalition_members(n_mod).astype(float)
    main = rng.normal(size=(n, n_mod))
    return main @ members.T + rng.normal(scale=0.5, size=(n, 2**n_mod))


def _v(values: np.ndarray, subset: set[int] | tuple[int, ...]) -> np.ndarray:
    return values[..., sum(1 << i for i in subset)]


def _sii_by_definition(values: np.ndarray, i: int, j: int, n_mod: int) -> np.ndarray:
    """SII_ij = sum_{S in M minus ij} |S|!(M-|S|-2)!/(M-1)! D_ij(S) (docs/design.md section 2)."""
    others = [k for k in range(n_mod) if k not in (i, j)]
    total = np.zeros(values.shape[0])
    for size in range(len(others) + 1):
        w = factorial(size) * factorial(n_mod - size - 2) / factorial(n_mod - 1)
        for s in combinations(others, size):
            d = _v(values, (*s, i, j)) - _v(values, (*s, i)) - _v(values, (*s, j)) + _v(values, s)
            total += w * d
    return total


def _shapley_by_definition(values: np.ndarray, i: int, n_mod: int) -> np.ndarray:
    others = [k for k in range(n_mod) if k != i]
    total = np.zeros(values.shape[0])
    for size in range(n_mod):
        w = factorial(size) * factorial(n_mod - size - 1) / factorial(n_mod)
        for s in combinations(others, size):
            total += w * (_v(values, (*s, i)) - _v(values, s))
    return total


@pytest.mark.parametrize("n_mod", [2, 3, 4])
def test_matrix_equals_shapiq_k_sii_order_2(n_mod: int) -> None:
    from shapiq import ExactComputer

    rng = np.random.default_rng(n_mod)
    values = _cox_game(rng, n_mod, 5)
    e = Explanation(values, [f"m{i}" for i in range(n_mod)])
    for a in range(len(values)):
        def game(coalitions: np.ndarray, row: np.ndarray = values[a]) -> np.ndarray:
            idx = (np.asarray(coalitions, dtype=int) * (1 << np.arange(n_mod))).sum(axis=1)
            return row[idx]

        iv = ExactComputer(game, n_players=n_mod)("k-SII", order=2)
        ref = iv.dict_values
        assert ref[()] == pytest.approx(values[a, 0], abs=1e-12)
        for i in range(n_mod):
            assert e.matrix[a, i, i] == pytest.approx(ref[(i,)], abs=1e-10)
            for j in range(i + 1, n_mod):
                assert e.matrix[a, i, j] + e.matrix[a, j, i] == pytest.approx(ref[(i, j)], abs=1e-10)


@pytest.mark.parametrize("n_mod", [2, 3, 5, 8])
def test_matrix_against_the_definitions(n_mod: int) -> None:
    rng = np.random.default_rng(10 + n_mod)
    values = _cox_game(rng, n_mod, 4)
    e = Explanation(values, [f"m{i}" for i in range(n_mod)])
    for i in range(n_mod):
        np.testing.assert_allclose(e.shapley[:, i], _shapley_by_definition(values, i, n_mod), atol=1e-10)
    if n_mod <= 5:
        for i, j in combinations(range(n_mod), 2):
            sii = _sii_by_definition(values, i, j, n_mod)
            np.testing.assert_allclose(e.matrix[:, i, j], sii / 2, atol=1e-10)
            np.testing.assert_allclose(e.matrix[:, j, i], sii / 2, atol=1e-10)
    # rows sum to the Shapley values; the matrix sums to v(M) - v(empty), per patient
    np.testing.assert_allclose(e.matrix.sum(axis=2), e.shapley, atol=1e-10)
    np.testing.assert_allclose(e.matrix.sum(axis=(1, 2)), values[:, -1] - values[:, 0], atol=1e-10)
    # Möbius coefficients sum back to the game: v(S) = sum_{T subset S} m(T)
    members = coalition_members(n_mod)
    subset = (~members[:, None, :] | members[None, :, :]).all(axis=2)  # [T, S]: T subset of S
    np.testing.assert_allclose(e.mobius @ subset, values, atol=1e-10)


def test_two_modality_closed_form() -> None:
    v = np.array([[0.2, 1.0, -0.5, 0.9]])  # v({}), v(1), v(2), v(12)
    e = Explanation(v, ["wsi", "rna"])
    inter = (0.9 - 1.0 + 0.5 + 0.2) / 2
    np.testing.assert_allclose(e.matrix[0], [[1.0 - 0.2, inter], [inter, -0.5 - 0.2]], atol=1e-15)
    assert e.coalitions == ["{}", "wsi", "rna", "wsi:rna"]
    np.testing.assert_allclose(e.additive_projection(), [1.0 - 0.5 - 0.2])


def test_aggregations_by_hand() -> None:
    # two patients, M = 2; coalition values v({}), v(1), v(2), v(12)
    v = np.array([[0.0, 1.0, 2.0, 4.0],     # phi_11 = 1, phi_22 = 2, phi_12 = phi_21 = 0.5
                  [0.0, -1.0, 0.0, -3.0]])  # phi_11 = -1, phi_22 = 0, phi_12 = phi_21 = -1
    e = Explanation(v, ["a", "b"])
    # abs: Phi = [[1, .75], [.75, 1]] -> 1.5 / 3.5
    assert e.score("abs") == pytest.approx(1.5 / 3.5, abs=1e-15)
    assert e.shares("abs") == pytest.approx({"a": 1 / 3.5, "b": 1 / 3.5, "interaction": 1.5 / 3.5})
    # paper: Phi = |mean| = [[0, .25], [.25, 1]] -> 0.5 / 1.5
    assert e.score("paper") == pytest.approx(0.5 / 1.5, abs=1e-15)
    # local_mean: patient 1: 1/4, patient 2: 2/3
    assert e.score("local_mean") == pytest.approx((1 / 4 + 2 / 3) / 2, abs=1e-15)
    np.testing.assert_allclose(e.local_scores("abs"), [1 / 4, 2 / 3])
    # swift2026, phi_i = full Shapley values, phi_int = (v12 - v1 - v2 + v0) / 2:
    # patient 1: phi_1 = (1 + 4 - 2) / 2 = 1.5, phi_2 = (2 + 4 - 1) / 2 = 2.5, phi_int = 0.5 -> 0.5 / 4.5
    # patient 2: phi_1 = (-1 - 3 - 0) / 2 = -2, phi_2 = (0 - 3 + 1) / 2 = -1, phi_int = -1 -> 1 / 4
    assert e.score("swift2026") == pytest.approx((0.5 / 4.5 + 1 / 4) / 2, abs=1e-15)
    assert e.shares("swift2026")["a"] == pytest.approx((1.5 / 4.5 + 2 / 4) / 2, abs=1e-15)
    np.testing.assert_allclose(e.local_scores("swift2026"), [0.5 / 4.5, 1 / 4], atol=1e-15)
    for a in ("abs", "paper", "local_mean", "swift2026"):
        assert sum(e.shares(a).values()) == pytest.approx(1.0, abs=1e-12)


def test_swift2026_only_for_two_modalities() -> None:
    with pytest.raises(IntersurvError, match="swift2026"):
        Explanation(np.zeros((3, 8)), ["a", "b", "c"], aggregation="swift2026")
    e = Explanation(np.random.default_rng(0).normal(size=(3, 8)), ["a", "b", "c"])
    with pytest.raises(IntersurvError, match="2 modalities"):
        e.score("swift2026")
    with pytest.raises(IntersurvError, match="aggregation 'median'"):
        e.score("median")


def test_variance_decomposition_is_a_variance_decomposition() -> None:
    rng = np.random.default_rng(3)
    v = _cox_game(rng, 2, 400)
    e = Explanation(v, ["wsi", "rna"], masker="marginal")
    d = e.variance_decomposition()
    f1, f2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    f12 = v[:, 3] - v[:, 1] - v[:, 2] + v[:, 0]
    assert d["terms"]["wsi"] == pytest.approx(np.var(f1), rel=1e-12)
    assert d["terms"]["rna"] == pytest.approx(np.var(f2), rel=1e-12)
    assert d["terms"]["wsi:rna"] == pytest.approx(np.var(f12), rel=1e-12)
    assert d["covariances"]["wsi|wsi:rna"] == pytest.approx(np.cov(f1, f12, ddof=0)[0, 1], rel=1e-12)
    total = np.var(v[:, 3] - v[:, 0])
    assert d["total"] == pytest.approx(total, rel=1e-12)
    assert d["shares"]["wsi:rna"] == pytest.approx(np.var(f12) / total, rel=1e-12)
    assert d["interaction_share"] == pytest.approx(np.var(f12) / total, rel=1e-12)
    assert sum(d["shares"].values()) == pytest.approx(1.0, abs=1e-12)


def test_bootstrap_ci_matches_a_direct_resampling() -> None:
    rng = np.random.default_rng(4)
    v = _cox_game(rng, 2, 60)
    e = Explanation(v, ["a", "b"], bootstrap=300, seed=7)
    ci = e.bootstrap_ci()
    # the same draws, recomputed by building an Explanation per replicate
    draws = np.random.default_rng(7).integers(60, size=(300, 60))
    scores = [Explanation(v[d], ["a", "b"]).score() for d in draws]
    np.testing.assert_allclose(ci["intershap"], np.quantile(scores, [0.025, 0.975]), atol=1e-12)
    var_int = [Explanation(v[d], ["a", "b"]).variance_decomposition()["shares"]["a:b"] for d in draws]
    np.testing.assert_allclose(ci["variance_shares"]["a:b"], np.quantile(var_int, [0.025, 0.975]), atol=1e-9)
    assert ci["intershap"][0] < e.score() < ci["intershap"][1]
    lm = [Explanation(v[d], ["a", "b"]).score("local_mean") for d in draws]
    np.testing.assert_allclose(e.bootstrap_ci("local_mean")["intershap"], np.quantile(lm, [0.025, 0.975]),
                               atol=1e-12)


def test_bad_coalition_values() -> None:
    with pytest.raises(IntersurvError, match="expected \\(N, 4\\)"):
        Explanation(np.zeros((3, 3)), ["a", "b"])
