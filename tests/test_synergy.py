"""Synergy vs redundancy (intersurv.interactions.synergy): closed forms, invariances, the cohort verdict,
and the Bayes log-hazard of the shared-binary-factor scenario."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import intersurv
from intersurv.datasets.truth import shared_binary_log_hazard, view_log_likelihood_ratio
from intersurv.interactions.decomposition import mobius
from intersurv.interactions.synergy import share_interval, split_interaction, synergy_summary
from intersurv.report.interaction_verdict import verdict_lines


def _game(h, x1: np.ndarray, x2: np.ndarray, b1: float = 0.0, b2: float = 0.0) -> np.ndarray:
    """``(N, 4)`` coalition values of ``h`` against the baseline point ``(b1, b2)``."""
    f1, f2 = np.full_like(x1, b1), np.full_like(x2, b2)
    return np.column_stack([h(f1, f2), h(x1, f2), h(f1, x2), h(x1, x2)])


def _summary(values: np.ndarray) -> dict:
    return synergy_summary(mobius(values), ["a", "b"])["overall"]


def test_closed_forms_of_the_split() -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.uniform(0.1, 2.0, 500), rng.uniform(0.1, 2.0, 500)
    # h = x1 + x2 + c x1 x2 on positive inputs, baseline 0: m_i = x_i, q = c x1 x2
    syn, red = split_interaction(x1, x2, 0.7 * x1 * x2)
    np.testing.assert_allclose(syn, 0.7 * x1 * x2, rtol=1e-12)
    assert np.all(red == 0)
    syn, red = split_interaction(x1, x2, -0.2 * x1 * x2)  # |q| <= x1 + x2 on [0.1, 2]: all redundancy
    np.testing.assert_allclose(red, 0.2 * x1 * x2, rtol=1e-12)
    assert np.all(syn == 0)
    # a crossover: separate effect +1, interaction -3, joint -2: 1 cancelled (redundant), 2 beyond (synergy)
    syn, red = split_interaction(np.array([0.4]), np.array([0.6]), np.array([-3.0]))
    assert syn[0] == pytest.approx(2.0) and red[0] == pytest.approx(1.0)
    # the max of two positive effects: q = -min(x1, x2), fully redundant
    s = _summary(_game(np.maximum, x1, x2))
    assert s["redundancy"] == pytest.approx(np.minimum(x1, x2).mean()) and s["synergy"] == 0.0
    assert s["kind"] == "redundancy" and s["redundancy_share"] == 1.0
    # log-sum-exp against the baseline 0: q = log(2 (e^a + e^b) / ((e^a + 1)(e^b + 1))), which is < 0;
    # redundant where both effects are positive, synergistic where both are negative
    def lse(a, b):
        return np.logaddexp(a, b)

    q = np.log(2 * (np.exp(x1) + np.exp(x2)) / ((np.exp(x1) + 1) * (np.exp(x2) + 1)))
    s = _summary(_game(lse, x1, x2))
    assert s["redundancy"] == pytest.approx(np.abs(q).mean(), rel=1e-10) and s["synergy"] == 0.0
    s = _summary(_game(lse, -x1, -x2))
    assert s["synergy"] == pytest.approx(np.abs(q).mean(), rel=1e-10) and s["redundancy"] == 0.0
    # XOR without main effects (mean baseline 0): every bit of interaction is synergy
    signs = rng.choice([-1.0, 1.0], size=(400, 2))
    s = _summary(_game(lambda a, b: a * b, signs[:, 0], signs[:, 1]))
    assert s["synergy_share"] == 1.0 and s["synergy"] == pytest.approx(1.0)


def test_invariances() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(300, 4))
    base = _summary(values)
    swapped = values[:, [0, 2, 1, 3]]  # players exchanged
    for other in (values + 3.7, -values, swapped):
        s = _summary(other)
        for k in ("synergy", "redundancy", "synergy_share"):
            assert s[k] == pytest.approx(base[k], rel=1e-12, abs=1e-15)
    scaled = _summary(2.5 * values)
    assert scaled["synergy"] == pytest.approx(2.5 * base["synergy"], rel=1e-12)
    assert scaled["synergy_share"] == pytest.approx(base["synergy_share"], rel=1e-12)
    # per patient: syn + red = |q| and syn - red = |m + q| - |m|
    m = mobius(values)
    syn, red = split_interaction(m[:, 1], m[:, 2], m[:, 3])
    np.testing.assert_allclose(syn + red, np.abs(m[:, 3]), rtol=1e-12)
    np.testing.assert_allclose(syn - red, np.abs(m[:, 1:].sum(axis=1)) - np.abs(m[:, 1] + m[:, 2]), atol=1e-12)


def test_additive_models_have_no_kind_and_pairs_of_three_players() -> None:
    rng = np.random.default_rng(2)
    x = {m: rng.normal(size=(200, 2)).astype(np.float32) for m in ("a", "b", "c")}

    def model(X):
        return X["a"][:, 0] + 2 * X["b"][:, 1] - X["c"][:, 0] + 0.8 * X["a"][:, 1] * X["b"][:, 0]

    exp = intersurv.explain(model, x, reference=x, masker="mean")
    s = synergy_summary(exp.mobius, exp.modalities)
    assert s["pairs"]["a|c"]["kind"] == "none" and s["pairs"]["a|c"]["synergy_share"] is None
    assert s["pairs"]["a|b"]["kind"] != "none"
    assert s["overall"]["synergy"] == pytest.approx(s["pairs"]["a|b"]["synergy"])
    additive = intersurv.explain(lambda X: X["a"][:, 0] + X["b"][:, 1], x, reference=x, masker="mean")
    assert synergy_summary(additive.mobius, additive.modalities)["overall"]["kind"] == "none"
    assert share_interval(additive.mobius, additive.modalities, 50, seed=0) == [None, None]
    low, high = share_interval(exp.mobius, exp.modalities, 200, seed=0)
    assert low < s["overall"]["synergy_share"] < high


def test_synergy_verdict_only_where_the_test_rejects() -> None:
    synergy = {"reported": True, "estimate": 0.8, "ci": [0.7, 0.9], "kind": "synergy"}
    cohort = {"p_value": 0.01, "alpha": 0.05, "estimate": 0.2, "ci": [0.1, 0.3], "minimum_detectable": 0.1,
              "planted": {}, "synergy": synergy}
    lines = verdict_lines({"interaction_test": {"cohort": cohort}})
    assert any("Kind of interaction: mostly synergy" in x and "80.0 %" in x for x in lines)
    red = {**synergy, "estimate": 0.45, "ci": [0.3, 0.6], "kind": "redundancy"}
    lines = verdict_lines({"interaction_test": {"cohort": {**cohort, "synergy": red}}})
    assert any("mostly redundancy" in x and "does not exclude an even split" in x for x in lines)
    not_rejected = {**cohort, "p_value": 0.3, "estimate": 0.0, "synergy": {**synergy, "reported": False}}
    assert not any("Kind of interaction" in x for x in verdict_lines({"interaction_test": {"cohort": not_rejected}}))
    # even a stale "reported" flag does not print the kind when p > alpha
    stale = {**cohort, "p_value": 0.3}
    assert not any("Kind of interaction" in x for x in verdict_lines({"interaction_test": {"cohort": stale}}))


def test_bayes_log_hazard_against_a_direct_computation_and_monte_carlo() -> None:
    pi, noise, sens, b = 0.25, 0.3, 0.7, 2.0
    term = {"coef": b, "prevalence": pi, "noise": noise, "sensitivity": sens,
            "views": [{"mean": 0.0, "sd": 1.0}, {"mean": 0.0, "sd": 1.0}]}
    u1, u2 = np.meshgrid(np.linspace(-0.6, 1.6, 12), np.linspace(-0.6, 1.6, 12))
    u1, u2 = u1.ravel(), u2.ravel()

    def density(u, z):  # P(u | Z = z): a mixture of N(1, noise^2) and N(0, noise^2)
        shown = stats.norm.pdf(u, 1.0, noise)
        hidden = stats.norm.pdf(u, 0.0, noise)
        return sens * shown + (1 - sens) * hidden if z else hidden

    joint1 = pi * density(u1, 1) * density(u2, 1)
    p = joint1 / (joint1 + (1 - pi) * density(u1, 0) * density(u2, 0))
    np.testing.assert_allclose(shared_binary_log_hazard(term, [u1, u2]), np.log(1 - p + p * np.exp(b)),
                               rtol=1e-10)
    np.testing.assert_allclose(view_log_likelihood_ratio(u1, noise, sens),
                               np.log(density(u1, 1) / density(u1, 0)), rtol=1e-10)
    # Monte Carlo: E[exp(b Z) | views in a box] = mean over the box of E[exp(b Z) | views] (tower property)
    rng = np.random.default_rng(3)
    n = 1_000_000
    z = rng.uniform(size=n) < pi
    views = [(z & (rng.uniform(size=n) < sens)) + noise * rng.standard_normal(n) for _ in range(2)]
    for centre in ((0.9, 0.1), (0.1, 0.1), (0.8, 0.9)):
        box = (np.abs(views[0] - centre[0]) < 0.1) & (np.abs(views[1] - centre[1]) < 0.1)
        mc = np.log(np.mean(np.exp(b * z[box])))
        exact = np.log(np.mean(np.exp(shared_binary_log_hazard(term, [views[0][box], views[1][box]]))))
        assert box.sum() > 1000 and mc == pytest.approx(exact, abs=0.04)


def test_shared_binary_scenario_is_redundant_by_its_truth() -> None:
    cohort = intersurv.simulate("shared_binary", n=400, seed=2, wsi_dim=100, rna_genes=80)
    truth = cohort.truth["interaction"]["mean"]
    assert truth["synergy"]["overall"]["kind"] == "redundancy"
    assert truth["synergy"]["overall"]["redundancy_share"] > 0.9 and truth["intershap"]["abs"] > 0.1
    h = intersurv.datasets.simulate.TrueLogRisk(cohort.truth)(cohort.modalities)
    assert 0.0 <= h.min() and h.max() <= 3.0  # log E[exp(3 Z) | views] lies in [0, b]
    high = cohort.group == "high"
    assert h[high].mean() > h[~high].mean() + 1.0
    with pytest.raises(intersurv.IntersurvError, match="sensitivity"):
        intersurv.simulate("shared_binary", n=50, sensitivity=1.5)
    synergy = intersurv.simulate("synergy", n=200, seed=2, wsi_dim=100, rna_genes=80)
    assert synergy.truth["interaction"]["mean"]["synergy"]["overall"]["synergy_share"] > 0.99
