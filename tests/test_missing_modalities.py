"""Patients who lack a modality (``--allow-missing``): kept, imputed by the training mean in the
transformed space, evaluated, and under the mean masker absent from every coalition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.cli import main
from intersurv.cohort import Cohort
from intersurv.errors import CohortError
from intersurv.interactions import explain
from intersurv.io.cohort_dir import read_cohort_dir, write_cohort_dir
from intersurv.training.fit import fit
from intersurv.training.standardize import Standardizer


def with_missing(c: Cohort, share: float = 0.3, seed: int = 0) -> Cohort:
    """``share`` of the patients, at random, lose one modality (chosen at random)."""
    rng = np.random.default_rng(seed)
    mods = {m: x.copy() for m, x in c.modalities.items()}
    names = list(mods)
    for a in rng.choice(c.n_patients, size=int(round(share * c.n_patients)), replace=False):
        mods[names[rng.integers(len(names))]][a] = np.nan
    return Cohort(ids=c.ids, time=c.time, event=c.event, modalities=mods, group=c.group, name=c.name)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return with_missing(intersurv.simulate("glioma", n=160, seed=1, wsi_dim=12, rna_genes=10))


def test_missing_rows_are_counted_written_and_read_back(cohort: Cohort, tmp_path: Path, capsys) -> None:
    lacking = {m: int(v.sum()) for m, v in cohort.missing.items()}
    assert sum(lacking.values()) == 48 and min(lacking.values()) > 0
    write_cohort_dir(cohort, tmp_path / "c")
    back = read_cohort_dir(tmp_path / "c")  # cohort.toml says allow_missing
    for m in cohort.modality_names:
        np.testing.assert_array_equal(back.missing[m], cohort.missing[m])
        np.testing.assert_array_equal(back.modalities[m], cohort.modalities[m])
    toml = (tmp_path / "c" / "cohort.toml").read_text()
    (tmp_path / "c" / "cohort.toml").write_text(toml.replace("allow_missing = true\n", ""))
    with pytest.raises(CohortError, match="--allow-missing"):
        read_cohort_dir(tmp_path / "c")
    assert main(["datasets", "check", str(tmp_path / "c"), "--allow-missing"]) == 0
    assert f"missing for {lacking['rna']} patient(s)" in capsys.readouterr().out


def test_partial_nan_is_still_an_error(cohort: Cohort) -> None:
    x = cohort.modalities["wsi"].copy()
    row = int(np.flatnonzero(~cohort.missing["wsi"])[0])
    x[row, 0] = np.nan
    with pytest.raises(CohortError, match="NaN/inf"):
        Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities={"wsi": x}, name="t")


def test_statistics_from_present_rows_and_missing_maps_to_the_mean(cohort: Cohort) -> None:
    x = cohort.modalities["rna"]
    present = x[~cohort.missing["rna"]].astype(np.float64)
    s = Standardizer.fit({"rna": x})
    np.testing.assert_allclose(s.mean["rna"], present.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.scale["rna"], present.std(axis=0), rtol=1e-5)
    z = s.transform({"rna": x})["rna"]
    assert np.all(z[cohort.missing["rna"]] == 0.0) and np.isfinite(z).all()
    r = Standardizer.fit({"rna": x}, "rank_normal")
    at_mean = r.transform({"rna": r.mean["rna"][None, :]})["rna"][0]
    np.testing.assert_array_equal(r.transform({"rna": x})["rna"][cohort.missing["rna"]],
                                  np.broadcast_to(at_mean, (int(cohort.missing["rna"].sum()), len(at_mean))))


def test_fit_predicts_every_patient_and_missing_is_the_mean_masker(cohort: Cohort) -> None:
    model = fit(cohort, "gated", seed=0, max_epochs=10, hidden=8)
    h = model(cohort.X)
    assert np.isfinite(h).all()
    lack = np.flatnonzero(cohort.missing["rna"])
    # a missing rna row predicts like the training mean of rna (z = 0)
    filled = dict(cohort.X)
    filled["rna"] = filled["rna"].copy()
    filled["rna"][lack] = model.standardizer.mean["rna"]
    np.testing.assert_allclose(model(filled), h, rtol=1e-5, atol=1e-5)
    train = cohort.subset(np.flatnonzero(np.isin(cohort.ids, model.train_ids)))  # the audit's reference
    exp = explain(model, cohort, reference=train, masker="mean")
    v = exp.coalition_values  # columns: {}, {wsi}, {rna}, {wsi, rna}
    bit = 1 << exp.modalities.index("rna")
    for c in range(4):
        if c & bit:
            np.testing.assert_allclose(v[lack, c], v[lack, c & ~bit], rtol=1e-6, atol=1e-6)


def test_mean_masker_refuses_a_modality_no_reference_patient_has(cohort: Cohort) -> None:
    import warnings

    model = fit(cohort, "late", seed=0, max_epochs=3, hidden=4)
    lack = cohort.missing["rna"]
    reference = {m: x[lack] for m, x in cohort.modalities.items()}  # every reference patient lacks rna
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" on the way
        with pytest.raises(intersurv.IntersurvError, match="no reference patient has modality 'rna'"):
            explain(model, cohort, reference=reference, masker="mean")


def test_audit_with_missing_modalities(cohort: Cohort, tmp_path: Path) -> None:
    cfg = audit_config({"cohort": "", "architectures": ["unimodal:rna", "linear:rna", "late"], "seeds": [0],
                        "train": {"max_epochs": 10, "patience": 5}, "explain": {"bootstrap": 10, "time_points": 2},
                        "prognostic": {"bootstrap": 5, "permutations": 5}}, cohort.modality_names)
    results = run_audit(cfg, tmp_path / "run", cohort=cohort)
    assert results["cohort"]["missing"] == {m: int(v.sum()) for m, v in cohort.missing.items()}
    patients = pd.read_csv(tmp_path / "run" / "patients.csv")
    late = patients[patients["arch"] == "late"]
    assert len(late) == 32 and np.isfinite(late["log_risk"]).all()  # every test patient is evaluated
    lacking_rna = set(cohort.ids[cohort.missing["rna"]])
    rows = late[late["patient_id"].isin(lacking_rna)]
    assert len(rows) > 0 and np.allclose(rows["shapley_rna"], 0.0, atol=1e-6)
    assert "imputed by the training mean" in (tmp_path / "run" / "report.html").read_text()
    # the cohort-level test on the complete cases, every modality represented by its components
    test = results["interaction_test"]["cohort"]
    lacking = np.any(list(cohort.missing.values()), axis=0)
    assert test["patients"] == int((~lacking).sum()) < cohort.n_patients
    assert min(test["components"].values()) >= 1


def test_principal_scores_leave_out_the_patients_who_lack_a_modality(cohort: Cohort) -> None:
    from intersurv.interactions.additivity_test import principal_scores

    lacking = cohort.missing["rna"]
    scores = principal_scores(cohort.modalities)
    present = principal_scores({m: x[~lacking] for m, x in cohort.modalities.items() if m == "rna"})
    np.testing.assert_allclose(scores["rna"][~lacking], present["rna"])
    assert np.all(scores["rna"][lacking] == 0.0) and scores["rna"].shape[1] >= 1
