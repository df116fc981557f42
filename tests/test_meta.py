"""The study's pooling math against statsmodels: DerSimonian-Laird random effects
(``combine_effects``) and Holm's adjustment (``multipletests``); the standard error
recovered from a corrected resampled t interval."""

from __future__ import annotations

import numpy as np
import pytest

from intersurv.audit.comparisons import resampled_t
from intersurv.audit.meta import holm, random_effects, se_from_interval

sm_meta = pytest.importorskip("statsmodels.stats.meta_analysis", reason="statsmodels (the dev extra) is the reference")
from statsmodels.stats.multitest import multipletests  # noqa: E402


def test_random_effects_matches_statsmodels_dersimonian_laird() -> None:
    rng = np.random.default_rng(3)
    for k in (2, 3, 7):
        effects = rng.normal(0.02, 0.05, k)  # spread well beyond the within-cohort errors: tau2 > 0
        variances = rng.uniform(1e-4, 4e-4, k)
        ref = sm_meta.combine_effects(effects, variances, method_re="dl")
        ours = random_effects(effects, variances)
        assert ref.tau2 > 0
        assert ours["tau2"] == pytest.approx(ref.tau2, abs=1e-8, rel=1e-8)
        assert ours["estimate"] == pytest.approx(ref.mean_effect_re, abs=1e-8)
        assert ours["normal"]["se"] == pytest.approx(ref.sd_eff_w_re, abs=1e-8)
        assert ours["q"] == pytest.approx(ref.q, abs=1e-8, rel=1e-8)
        assert ours["i2"] == pytest.approx(ref.i2, abs=1e-8)
        assert ours["fixed"]["estimate"] == pytest.approx(ref.mean_effect_fe, abs=1e-8)
        lo, hi = ref.conf_int(use_t=False)[1]  # [fixed, random, ...]: the random-effects normal interval
        assert ours["normal"]["ci"] == pytest.approx([lo, hi], abs=1e-8)
        assert sum(ours["weights"]) == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.InvalidTestWarning")  # no per-cohort n
def test_hartung_knapp_interval_matches_statsmodels_random_effect_wls() -> None:
    rng = np.random.default_rng(14)  # a draw whose two studies both spread beyond the weights (scale > 1)
    for k in (3, 7):
        effects = rng.normal(0.02, 0.05, k)
        variances = rng.uniform(1e-5, 3e-3, k)
        ref = sm_meta.combine_effects(effects, variances, method_re="dl", use_t=True)
        ours = random_effects(effects, variances)
        assert ours["scale"] > 1  # the spread exceeds what the weights expect: the truncation does not bind
        lo, hi = ref.conf_int(use_t=True)[3]  # [fixed, random, fixed wls, random wls]: HKSJ with t on K - 1 df
        assert ours["ci"] == pytest.approx([lo, hi], abs=1e-8)
        assert ours["df"] == k - 1


def test_hartung_knapp_is_never_narrower_than_its_model_based_se() -> None:
    # estimates closer together than their errors: the modified HKSJ keeps se_RE (scale 1) with t on K - 1 df
    effects, variances = np.array([0.010, 0.011, 0.009]), np.array([1e-3, 2e-3, 1.5e-3])
    pooled = random_effects(effects, variances)
    assert pooled["scale"] == 1.0 and pooled["se"] == pytest.approx(pooled["normal"]["se"], rel=1e-12)
    half = 4.302652729749464 * pooled["se"]  # t_{0.975, 2}
    assert pooled["ci"] == pytest.approx([pooled["estimate"] - half, pooled["estimate"] + half], rel=1e-9)


def test_homogeneous_estimates_pool_to_the_fixed_effect() -> None:
    # Q < df: DerSimonian-Laird truncates tau2 at 0 (statsmodels reports the untruncated, negative
    # value), so the random-effects pool is the inverse-variance fixed effect
    effects, variances = np.array([0.010, 0.011, 0.009]), np.array([1e-3, 2e-3, 1.5e-3])
    ref = sm_meta.combine_effects(effects, variances, method_re="dl")
    ours = random_effects(effects, variances)
    assert ref.tau2 < 0 and ours["tau2"] == 0.0 and ours["i2"] == 0.0
    assert ours["estimate"] == pytest.approx(ref.mean_effect_fe, abs=1e-8)
    assert ours["normal"]["se"] == pytest.approx(ref.sd_eff_w_fe, abs=1e-8)
    assert ours["q_df"] == 2 and 0 < ours["q_p_value"] <= 1


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 12):
        p = rng.uniform(0, 0.2, m)
        p[0] = p[-1]  # a tie
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), abs=1e-12)
    with pytest.raises(ValueError):
        holm([0.1, 1.5])


def test_standard_error_recovered_from_the_corrected_interval() -> None:
    diffs = np.array([0.01, 0.03, -0.02, 0.015, 0.04, 0.0, 0.02, -0.01])
    test = resampled_t(diffs, 0.25)
    assert se_from_interval(test["ci"], test["df"]) == pytest.approx(test["se"], rel=1e-12)
    assert np.isnan(se_from_interval([None, None], 4)) and np.isnan(se_from_interval([0.0, 0.1], 0))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        random_effects([0.1], [0.01])
    with pytest.raises(ValueError, match="variance > 0"):
        random_effects([0.1, 0.2], [0.01, 0.0])
