"""Issue 17: cohort input a hostile or careless user can give, each refused with one line (exit 2)
and nothing written outside the place it belongs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.cohort import Cohort
from intersurv.errors import CohortError
from intersurv.io.cohort_dir import read_cohort_dir, write_cohort_dir

from test_cohort import cli_error, edit_csv, make_cohort_dir


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    root = tmp_path / "c"
    root.mkdir()
    return make_cohort_dir(root)


# ----------------------------------------------------------------- row 3: outcome as a feature

def test_clinical_table_declared_as_a_modality_is_refused(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "cohort.toml").write_text('[modalities.clin]\nfile = "clinical.csv"\n'
                                            '[modalities.rna]\nfile = "rna.csv"\n')
    assert "modality 'clin' is the clinical table" in cli_error(cohort_dir, capsys=capsys)


def test_a_modality_holding_time_or_event_is_refused(cohort_dir: Path, capsys) -> None:
    clin = pd.read_csv(cohort_dir / "clinical.csv")
    clin[["patient_id", "time", "age"]].to_csv(cohort_dir / "leak.csv", index=False)
    err = cli_error(cohort_dir, capsys=capsys)
    assert "leak.csv" in err and "outcome column 'time'" in err


# ----------------------------------------------------------------- row 4: covariate types

def test_stray_text_in_a_numeric_covariate_is_an_error(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("age", df["age"].where(df.index != 2, "old")))
    err = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in err and "'age'" in err and "'P2'" in err and "'old'" in err


def test_covariate_types_follow_the_documented_rule(cohort_dir: Path) -> None:
    def edit(df: pd.DataFrame) -> None:
        df["sex"] = ["M", "F", "F", None, "M", "F"]
        df["grade"] = [1, 2, 3, 1, 2, 3]
        df.loc[1, "age"] = None
    edit_csv(cohort_dir / "clinical.csv", edit)
    (cohort_dir / "cohort.toml").write_text('[clinical]\ncovariates = ["age", "sex", "grade"]\n'
                                            'categorical = ["grade"]\n')
    cov = read_cohort_dir(cohort_dir).covariates
    assert cov["age"].dtype == np.float64 and np.isnan(cov["age"][1])
    assert cov["sex"].tolist()[:3] == ["M", "F", "F"] and pd.isna(cov["sex"][3])
    assert cov["grade"].tolist() == ["1", "2", "3", "1", "2", "3"]  # declared: levels, not numbers
    # the declaration survives a write and read back
    back = read_cohort_dir(write_cohort_dir(read_cohort_dir(cohort_dir), cohort_dir.parent / "copy"))
    assert back.covariates["grade"].tolist() == cov["grade"].tolist()


def test_categorical_must_name_a_covariate(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "cohort.toml").write_text('[clinical]\ncovariates = ["age"]\ncategorical = ["sex"]\n')
    assert "categorical column 'sex' is not a covariate" in cli_error(cohort_dir, capsys=capsys)


# ----------------------------------------------------------------- row 5: names as paths

@pytest.mark.parametrize("name", ["../../../../tmp/x/ESCAPED", "/abs", "", "a\x00b", "..", "a\\b"])
def test_unsafe_modality_names_are_refused(name: str, tmp_path: Path) -> None:
    x = np.ones((4, 2), dtype=np.float32)
    with pytest.raises(CohortError, match="modality name"):
        Cohort(ids=["a", "b", "c", "d"], time=[1, 2, 3, 4], event=[1, 0, 1, 0], modalities={name: x})


def test_nothing_is_written_outside_the_run_directory(tmp_path: Path) -> None:
    c = intersurv.simulate("glioma", n=40, seed=0)
    with pytest.raises(CohortError, match="not a safe file name"):
        Cohort(ids=c.ids, time=c.time, event=c.event,
               modalities={"../../escaped": c.modalities["wsi"], "rna": c.modalities["rna"]})
    assert not (tmp_path.parent / "escaped.parquet").exists()


# ----------------------------------------------------------------- row 6: malformed cohort.toml

@pytest.mark.parametrize("toml, expected", [
    ('clinical = "x"', "clinical must be a table, not 'x'"),
    ('modalities = ["rna", "wsi"]', "modalities must be a table"),
    ('[modalities.rna]\nfile = 5', "modalities.rna.file must be a string, not 5"),
    ('[modalities]\nrna = "rna.csv"', "modalities.rna must be a table"),
    ('[clinical]\ncovariates = "age"', "clinical.covariates must be a list of strings"),
    ('name = 3', "name must be a string"),
    ('time_unit = "fortnights"', "time_unit 'fortnights' is not one of days, weeks, months, years"),
])
def test_wrongly_typed_cohort_toml_is_one_line(cohort_dir: Path, toml: str, expected: str, capsys) -> None:
    (cohort_dir / "cohort.toml").write_text(toml + "\n")
    assert expected in cli_error(cohort_dir, capsys=capsys)


def test_binary_cohort_toml_is_one_line(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "cohort.toml").write_bytes(bytes(range(256)))
    assert "cohort.toml" in cli_error(cohort_dir, capsys=capsys)


# ----------------------------------------------------------------- row 11: messages

def test_messages_show_python_values_not_numpy_reprs(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("event", ["1", "2", "0", "1", "0", "1"]))
    err = cli_error(cohort_dir, capsys=capsys)
    assert "np." not in err and "has 2.0" in err
    with pytest.raises(CohortError) as info:
        Cohort(ids=["a", "b"], time=[np.nan, 1.0], event=[1, 0], modalities={"m": np.ones((2, 1))})
    assert "np." not in str(info.value) and "has nan" in str(info.value)


def test_blank_patient_id_is_reported_as_blank(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("patient_id", df["patient_id"].where(
        df.index != 3, None)))
    err = cli_error(cohort_dir, capsys=capsys)
    assert "blank patient id" in err and "'nan'" not in err


def test_symlink_outside_names_the_link_and_its_target(cohort_dir: Path, tmp_path: Path, capsys) -> None:
    outside = tmp_path / "outside.csv"
    (cohort_dir / "rna.csv").rename(outside)
    (cohort_dir / "rna.csv").symlink_to(outside)
    err = cli_error(cohort_dir, capsys=capsys)
    assert str(cohort_dir / "rna.csv") in err and str(outside) in err and "cohort.toml" not in err


def test_datasets_check_rejects_time_units_the_audit_rejects(cohort_dir: Path) -> None:
    with pytest.raises(CohortError, match="fortnights"):
        Cohort(ids=["a"], time=[1.0], event=[1], modalities={"m": np.ones((1, 1))}, time_unit="fortnights")


@pytest.mark.parametrize("name", ["", "a\x00b", 5])
def test_unusable_cohort_names_are_refused(name) -> None:
    with pytest.raises(CohortError, match="cohort name"):
        Cohort(ids=["a"], time=[1.0], event=[1], modalities={"m": np.ones((1, 1))}, name=name)
