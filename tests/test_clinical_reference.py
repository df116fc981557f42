"""The ``clinical`` reference on a cohort whose covariates are no modality: it reads them directly,
the fusion models do not, and it is audited, compared and explained like ``linear:<m>``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.cohort import Cohort
from intersurv.errors import CohortError, IntersurvError
from intersurv.models import clinical_reads_covariates, model_cohort
from intersurv.training.fit import fit


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    c = intersurv.simulate("glioma", n=160, seed=1, wsi_dim=12, rna_genes=10)
    assert c.modality_names == ["wsi", "rna"] and list(c.covariates.columns) == ["age", "male"]
    return c


def test_clinical_reads_the_covariates_only_when_they_are_no_modality(cohort: Cohort) -> None:
    assert clinical_reads_covariates(cohort)
    seen = model_cohort(cohort, "clinical")
    assert seen.modality_names == ["wsi", "rna", "clinical"]
    np.testing.assert_array_equal(seen.modalities["clinical"], cohort.covariates.to_numpy(np.float32))
    assert model_cohort(cohort, "late") is cohort  # the fusion models do not see the covariates
    as_modality = cohort.with_covariates_modality("clinical")
    assert not clinical_reads_covariates(as_modality) and model_cohort(as_modality, "clinical") is as_modality
    # not numeric, or a patient without a value: no clinical model by default, an error if asked for
    text = Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=cohort.modalities,
                  covariates=cohort.covariates.assign(male=np.where(cohort.covariates["male"] > 0, "M", "F")))
    assert not clinical_reads_covariates(text)
    with pytest.raises(CohortError, match="covariate 'male' is not numeric"):
        model_cohort(text, "clinical")
    blank = cohort.covariates.copy()
    blank.loc[3, ["age", "male"]] = np.nan
    gap = Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=cohort.modalities, covariates=blank)
    assert not clinical_reads_covariates(gap)
    with pytest.raises(CohortError, match=f"patient {cohort.ids[3]!r} has no covariate value"):
        model_cohort(gap, "clinical")
    assert gap.with_covariates_modality("clinical", allow_missing=True).missing["clinical"].sum() == 1


def test_default_architectures_include_clinical_when_the_covariates_can_feed_it() -> None:
    base = {"cohort": "x", "seeds": [0]}
    assert "clinical" in audit_config(base, ["wsi", "rna"], covariates=True).architectures
    assert "clinical" not in audit_config(base, ["wsi", "rna"]).architectures
    assert "clinical" in audit_config(base, ["wsi", "clinical"]).architectures
    with pytest.raises(IntersurvError, match="'clinical' needs numeric covariates"):
        audit_config({**base, "architectures": ["late", "clinical"]}, ["wsi", "rna"])


def test_audit_compares_with_the_clinical_model_without_a_clinical_modality(cohort: Cohort, tmp_path: Path) -> None:
    data = {"cohort": "", "architectures": ["late", "clinical"], "seeds": [0], "protocol": {"kind": "holdout"},
            "train": {"max_epochs": 10, "patience": 5}, "explain": {"bootstrap": 10, "time_points": 2},
            "prognostic": {"bootstrap": 5, "permutations": 5}}
    results = run_audit(audit_config(data, cohort.modality_names, covariates=True), tmp_path / "run", cohort=cohort)
    assert results["references"]["clinical"] == "clinical"
    assert results["comparisons"]["late"]["clinical"]["units"] == 1
    assert results["cohort"]["modalities"] == {"wsi": 12, "rna": 10}  # the cohort is unchanged
    clin = results["architectures"]["clinical"]
    # explained over the cohort's modalities plus its covariates: one player, so additive
    assert clin["intershap"]["mean"] == 0.0
    assert clin["shares"]["clinical"] == pytest.approx(1.0) and clin["shares"]["wsi"] == 0.0
    assert set(results["architectures"]["late"]["shares"]) == {"wsi", "rna", "interaction"}
    late = intersurv.training.rundir.RunDir(tmp_path / "run").units()[0].load_model()
    assert late.arch == "late" and late.modalities == ["wsi", "rna"]
    # the clinical model is the linear Cox of the covariates of its training patients
    unit = next(u for u in intersurv.training.rundir.RunDir(tmp_path / "run").units() if u.arch == "clinical")
    model = unit.load_model()
    train = model_cohort(cohort, "clinical").subset(np.flatnonzero(np.isin(cohort.ids, model.train_ids)))
    refit = fit(train, "clinical", seed=0)
    predictions = pd.read_csv(unit.path / "predictions.csv", dtype={"patient_id": str})
    test = model_cohort(cohort, "clinical").subset(np.flatnonzero(np.isin(cohort.ids, predictions["patient_id"])))
    np.testing.assert_allclose(refit(test.X), predictions.set_index("patient_id").loc[test.ids, "log_risk"],
                               rtol=1e-6, atol=1e-9)


def test_an_imported_tcga_table_gets_the_clinical_reference_by_default(tmp_path: Path) -> None:
    from test_tcga_import import slide_table, write_csv

    from intersurv.cli import build_parser, main
    from intersurv.cli.audit import resolve_audit

    df = slide_table(n=40)
    df.loc[df["case_id"] == "TCGA-00-0002", ["age", "is_female"]] = np.nan  # imputed by default
    assert main(["datasets", "import", str(write_csv(df, tmp_path / "t.csv")), "--out", str(tmp_path / "c")]) == 0
    args = build_parser().parse_args(["audit", "--cohort", str(tmp_path / "c"), "--out", str(tmp_path / "run")])
    config, cohort = resolve_audit(args)
    assert "clinical" in config.architectures and cohort.modality_names == ["rna", "cnv", "mut"]
