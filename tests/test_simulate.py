"""Simulated cohorts: shape of glioma-sim, determinism, and the ground truth's known answers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter

import intersurv
from intersurv.cli import main
from intersurv.datasets.simulate import TrueLogRisk, glioma_sim, simulate
from intersurv.errors import IntersurvError
from intersurv.io.cohort_dir import write_cohort_dir

# small feature widths keep the known-answer tests fast
SMALL = {"wsi_dim": 320, "rna_genes": 200}


@pytest.fixture(scope="module")
def glioma() -> intersurv.Cohort:
    return glioma_sim()


def independent_readout(x: np.ndarray, features: list[int]) -> np.ndarray:
    """The readout recomputed from the data alone: block mean of z-scores, rescaled to sd 1."""
    block = pd.DataFrame(x[:, features].astype(np.float64))
    z = (block - block.mean()) / block.std(ddof=0)
    avg = z.mean(axis=1)
    return (avg / avg.std(ddof=0)).to_numpy()


def test_glioma_sim_is_shaped_like_the_glioma_cohort(glioma: intersurv.Cohort) -> None:
    c = glioma
    assert c.name == "glioma-sim" and c.n_patients == 575 and c.time_unit == "months"
    assert abs(c.event.mean() - 0.34) <= 0.03
    assert abs(np.mean(c.group == "high") - 0.12) <= 0.02
    assert set(c.group) == {"high", "low"}
    assert c.modality_names == ["wsi", "rna"]
    assert c.modalities["wsi"].shape == (575, 2048) and c.modalities["wsi"].min() >= 0.0
    rna = c.modalities["rna"]
    assert rna.shape == (575, 1000) and rna.min() >= 0.0 and 2.0 < np.median(rna) < 12.0 and rna.max() < 20.0
    assert list(c.covariates.columns) == ["age", "male"]
    medians = {}
    for g in ("high", "low"):
        km = KaplanMeierFitter().fit(c.time[c.group == g], c.event[c.group == g])
        medians[g] = km.median_survival_time_
    assert medians["high"] < 24.0 and medians["high"] < medians["low"] / 3  # high grade dies far sooner


def test_glioma_sim_is_fast() -> None:
    glioma_sim()  # warm imports
    start = time.perf_counter()
    glioma_sim()
    assert time.perf_counter() - start < 4.0  # ~0.7 s on an idle core; generous for a loaded CI


@pytest.mark.parametrize("rate, n, seed", [(0.34, 575, 0), (0.34, 301, 5), (0.5, 200, 1), (0.1, 150, 2)])
def test_censoring_is_calibrated_to_the_event_rate(rate: float, n: int, seed: int) -> None:
    c = simulate("additive", n=n, seed=seed, event_rate=rate, **SMALL)
    assert c.n_events == round(rate * n)


def test_event_times_follow_cox_with_the_true_log_risk() -> None:
    c = simulate("glioma", n=1000, seed=3, **SMALL)
    h = TrueLogRisk(c.truth)(c.X)
    df = pd.DataFrame({"h": h, "time": c.time, "event": c.event})
    cph = CoxPHFitter().fit(df, "time", "event")
    lo, hi = cph.confidence_intervals_.loc["h"]
    assert lo < 1.0 < hi  # the log hazard ratio of the true log-risk is exactly 1


def test_true_log_risk_is_a_function_of_the_observed_features(glioma: intersurv.Cohort) -> None:
    truth = glioma.truth
    f = TrueLogRisk(truth)
    assert f.modalities == ["wsi", "rna"]
    r = {name: independent_readout(glioma.X[spec["modality"]], spec["features"])
         for name, spec in truth["log_risk"]["readouts"].items()}
    for name, values in f.readout_values(glioma.X).items():
        np.testing.assert_allclose(values, r[name], atol=1e-9)
    b = truth["params"]
    main_part = b["b_grade"] * (r["wsi_grade"] + r["rna_grade"]) + b["b_wsi"] * r["wsi_own"] + b["b_rna"] * r["rna_own"]
    cross = r["wsi_own"] * r["rna_own"]
    h = f(glioma.X)
    gamma = np.dot(h - main_part, cross) / np.dot(cross, cross)
    np.testing.assert_allclose(h, main_part + gamma * cross, atol=1e-9)
    # the cross term carries the requested share of the log-risk variance
    assert np.var(gamma * cross) / np.var(h) == pytest.approx(b["interaction"], abs=1e-9)
    # each readout recovers its latent factor: the grade readouts separate the grades
    for name in ("wsi_grade", "rna_grade"):
        assert r[name][glioma.group == "high"].mean() - r[name][glioma.group == "low"].mean() > 2.0


def test_truth_equals_closed_form_under_the_mean_masker(glioma: intersurv.Cohort) -> None:
    """Mean masker on readouts that are affine in x: masked readouts are 0, so with
    h = m_w + m_r + g r_w r_r the InterSHAP matrix is diag(m_w, m_r), off-diagonal g r_w r_r / 2
    (from the definition phi_12 = (v(12) - v(1) - v(2) + v({})) / 2, phi_ii = v(i) - v({}))."""
    truth = glioma.truth
    f = TrueLogRisk(truth)
    r = f.readout_values(glioma.X)
    b = truth["params"]
    m_w = b["b_grade"] * r["wsi_grade"] + b["b_wsi"] * r["wsi_own"]
    m_r = b["b_grade"] * r["rna_grade"] + b["b_rna"] * r["rna_own"]
    off = (f(glioma.X) - m_w - m_r) / 2.0
    phi = np.array([np.abs(m_w).mean(), np.abs(m_r).mean(), 2 * np.abs(off).mean()])
    expected = phi / phi.sum()
    got = truth["interaction"]["mean"]["shares"]["abs"]
    # to float32 rounding: the engine masks with the float32 mean row, whose readouts are ~1e-8, not 0
    np.testing.assert_allclose([got["wsi"], got["rna"], got["interaction"]], expected, rtol=1e-6)
    assert truth["interaction"]["mean"]["intershap"]["abs"] == pytest.approx(expected[2], rel=1e-6)


def test_truth_is_the_engine_on_the_full_feature_arrays() -> None:
    c = simulate("glioma", n=120, seed=4, interaction=0.2, **SMALL)
    f = TrueLogRisk(c.truth)
    for masker in ("mean", "marginal"):
        e = intersurv.explain(f, c.X, reference=c.X, masker=masker, output="log_risk", background=c.n_patients)
        stored = c.truth["interaction"][masker]
        assert e.score("abs") == pytest.approx(stored["intershap"]["abs"], abs=1e-10)
        assert e.shares("local_mean") == pytest.approx(stored["shares"]["local_mean"], abs=1e-10)
        vd = e.variance_decomposition()
        assert vd["interaction_share"] == pytest.approx(stored["variance_decomposition"]["interaction_share"],
                                                        abs=1e-10)


def test_simulation_is_byte_identical_for_the_same_arguments(tmp_path: Path) -> None:
    args = dict(n=150, seed=7, interaction=0.3, **SMALL)
    write_cohort_dir(simulate("glioma", **args), tmp_path / "a")
    write_cohort_dir(simulate("glioma", **args), tmp_path / "b")
    write_cohort_dir(simulate("glioma", **{**args, "seed": 8}), tmp_path / "c")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"clinical.csv", "cohort.toml", "truth.json", "wsi.parquet", "rna.parquet"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "wsi.parquet").read_bytes() != (tmp_path / "c" / "wsi.parquet").read_bytes()


@pytest.mark.parametrize("masker", ["mean", "marginal"])
def test_additive_truth_has_exactly_zero_interaction(masker: str) -> None:
    truth = simulate("additive", n=200, seed=1, **SMALL).truth["interaction"][masker]
    for aggregation in ("abs", "local_mean", "swift2026"):
        assert truth["intershap"][aggregation] < 1e-12
    assert truth["variance_decomposition"]["shares"]["wsi:rna"] < 1e-12
    assert truth["shares"]["abs"]["wsi"] > 0.3 and truth["shares"]["abs"]["rna"] > 0.3


@pytest.mark.parametrize("masker", ["mean", "marginal"])
def test_uniqueness_truth_gives_the_non_prognostic_modality_share_zero(masker: str) -> None:
    truth = simulate("uniqueness", n=200, seed=1, **SMALL).truth["interaction"][masker]
    assert truth["shares"]["abs"]["rna"] < 1e-12
    assert truth["intershap"]["abs"] < 1e-12
    assert truth["shares"]["abs"]["wsi"] == pytest.approx(1.0, abs=1e-12)
    assert truth["variance_decomposition"]["terms"]["rna"] < 1e-20


@pytest.mark.parametrize("n", [575, 203])
def test_synergy_truth_is_almost_pure_interaction_under_the_marginal_masker(n: int) -> None:
    c = simulate("synergy", n=n, seed=2, **SMALL)
    assert c.truth["interaction"]["marginal"]["intershap"]["abs"] >= 0.99
    h = TrueLogRisk(c.truth)(c.X)
    # b tanh(10 r_w) tanh(10 r_r) with b = 1 and bimodal readouts: ±1 but for a handful of patients
    assert np.abs(h).max() <= 1.0 and np.mean(np.abs(h) > 0.999) > 0.99


def test_redundancy_truth_splits_the_shared_factor_between_modalities() -> None:
    truth = simulate("redundancy", n=300, seed=1, **SMALL).truth["interaction"]["mean"]
    assert truth["intershap"]["abs"] < 1e-12
    assert truth["shares"]["abs"]["wsi"] == pytest.approx(0.5, abs=0.05)


def test_interaction_parameter_moves_the_truth_monotonically() -> None:
    scores = {m: [] for m in ("mean", "marginal")}
    for share in (0.0, 0.1, 0.2, 0.3, 0.5):
        truth = simulate("glioma", n=200, seed=3, interaction=share, **SMALL).truth["interaction"]
        for m in scores:
            scores[m].append(truth[m]["intershap"]["abs"])
            assert truth[m]["variance_decomposition"]["interaction_share"] == pytest.approx(share, abs=1e-6)
    for m, s in scores.items():
        assert s[0] < 1e-12
        assert all(a < b for a, b in zip(s, s[1:])), (m, s)


def test_glioma3_adds_a_prognostic_clinical_modality() -> None:
    c = simulate("glioma3", n=160, seed=1, **SMALL)
    assert c.modality_names == ["wsi", "rna", "clinical"]
    assert c.feature_names["clinical"] == ["age", "karnofsky", "male"]
    shares = c.truth["interaction"]["mean"]["shares"]["abs"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["clinical"] > 0.05 and shares["interaction"] > 0.05
    assert "swift2026" not in c.truth["interaction"]["mean"]["intershap"]


def test_unknown_scenario_and_parameter_are_named() -> None:
    with pytest.raises(IntersurvError, match=r"'nope'.*glioma, glioma3, additive"):
        simulate("nope")
    with pytest.raises(IntersurvError, match=r"'additive' has no parameter 'interaction'.*b_wsi"):
        simulate("additive", interaction=0.2)
    with pytest.raises(IntersurvError, match="'interaction' must be in"):
        simulate("glioma", interaction=1.0, **SMALL)
    with pytest.raises(IntersurvError, match=r"'block_fraction' must be in \(0, 0.2\]"):
        simulate("glioma", block_fraction=0.3, **SMALL)
    with pytest.raises(IntersurvError, match="'wsi_dim' must be a positive integer"):
        simulate("glioma", wsi_dim=10.5)


def test_cli_simulate_writes_a_loadable_cohort_with_truth(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sim"
    assert main(["simulate", "--scenario", "glioma", "--out", str(out)]) == 0
    assert (out / "truth.json").is_file()
    c = intersurv.load_cohort(out)
    ref = glioma_sim()
    assert c.n_patients == 575 and c.modality_names == ["wsi", "rna"]
    np.testing.assert_array_equal(c.modalities["wsi"], ref.modalities["wsi"])
    np.testing.assert_array_equal(c.group, ref.group)
    assert c.truth["interaction"] == ref.truth["interaction"]
    np.testing.assert_array_equal(TrueLogRisk(c.truth)(c.X), TrueLogRisk(ref.truth)(ref.X))
    assert "true InterSHAP" in capsys.readouterr().out


def test_cli_simulate_rejects_bad_parameters(tmp_path: Path, capsys) -> None:
    assert main(["simulate", "--scenario", "synergy", "--out", str(tmp_path), "--param", "interaction=0.1"]) == 2
    assert "no parameter 'interaction'" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path), "--param", "interaction"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_datasets_list_shows_glioma_sim(capsys) -> None:
    assert main(["datasets", "list"]) == 0
    assert "glioma-sim" in capsys.readouterr().out
    assert intersurv.load_cohort("glioma-sim").truth["scenario"] == "glioma"
