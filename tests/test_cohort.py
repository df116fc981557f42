"""Cohort loading and validation: every bad input gets a one-line error naming
the file, the column or patient, and what is wrong; the CLI prints it and exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.cli import main
from intersurv.errors import CohortError
from intersurv.io.cohort_dir import read_cohort_dir, write_cohort_dir


def make_cohort_dir(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    ids = [f"P{i}" for i in range(n)]
    pd.DataFrame({
        "patient_id": ids,
        "time": np.arange(1, n + 1, dtype=float) * 3.5,
        "event": [1, 0] * (n // 2),
        "group": ["a", "b"] * (n // 2),
        "age": rng.integers(30, 80, n),
    }).to_csv(root / "clinical.csv", index=False)
    pd.DataFrame(rng.normal(size=(n, 3)), columns=["g1", "g2", "g3"]).assign(patient_id=ids)[
        ["patient_id", "g1", "g2", "g3"]].to_csv(root / "rna.csv", index=False)
    pd.DataFrame(rng.random((n, 4)).astype(np.float32), columns=[f"f{j}" for j in range(4)]).assign(
        patient_id=ids).to_parquet(root / "wsi.parquet", index=False)
    return root


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    return make_cohort_dir(tmp_path)


def edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=object)
    fn(df)
    df.to_csv(path, index=False)


def cli_error(path: Path, *extra: str, capsys) -> str:
    """Run `intersurv datasets check` in-process; assert exit 2 and return stderr."""
    code = main(["datasets", "check", str(path), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("intersurv: error: ")
    return lines[0]


def test_valid_directory_loads_aligned(cohort_dir: Path) -> None:
    c = intersurv.load_cohort(cohort_dir)
    assert c.n_patients == 6 and c.n_events == 3
    assert c.modality_names == ["rna", "wsi"]
    assert c.modalities["rna"].dtype == np.float32 and c.modalities["wsi"].shape == (6, 4)
    assert list(c.group) == ["a", "b"] * 3
    assert list(c.covariates.columns) == ["age"]
    rna = pd.read_csv(cohort_dir / "rna.csv").set_index("patient_id")
    np.testing.assert_array_equal(c.modalities["rna"][2], rna.loc["P2"].to_numpy(np.float32))


def test_modality_rows_are_aligned_by_id_not_order(cohort_dir: Path) -> None:
    rna = pd.read_csv(cohort_dir / "rna.csv")
    rna.iloc[::-1].to_csv(cohort_dir / "rna.csv", index=False)
    c = intersurv.load_cohort(cohort_dir)
    np.testing.assert_array_equal(c.modalities["rna"][0], rna.iloc[0, 1:].to_numpy(np.float32))


def test_missing_clinical_file(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "clinical.csv").unlink()
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and "not found" in msg


def test_missing_modality_file_named_in_toml(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "cohort.toml").write_text('[modalities.rna]\nfile = "rna_missing.csv"\n')
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "rna_missing.csv" in msg and "not found" in msg


def test_missing_directory(tmp_path: Path, capsys) -> None:
    msg = cli_error(tmp_path / "nope", capsys=capsys)
    assert "nope" in msg


@pytest.mark.parametrize("column", ["patient_id", "time", "event"])
def test_missing_required_column(cohort_dir: Path, column: str, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.drop(columns=[column], inplace=True))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and f"missing required column {column!r}" in msg


def test_nan_feature_counts_and_names_first(cohort_dir: Path, capsys) -> None:
    def poison(df):
        df.loc[2, "g2"] = "nan"
        df.loc[4, "g1"] = "inf"
    edit_csv(cohort_dir / "rna.csv", poison)
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "rna.csv" in msg and "2 NaN/inf" in msg and "'P2'" in msg and "'g2'" in msg


def test_non_numeric_feature(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "rna.csv", lambda df: df.__setitem__("g3", ["1.0", "x", "2", "y", "3", "4"]))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "rna.csv" in msg and "2 non-numeric" in msg and "'P1'" in msg and "'g3'" in msg and "'x'" in msg


@pytest.mark.parametrize("bad", ["0", "-2", "nan", "abc"])
def test_bad_time(cohort_dir: Path, bad: str, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("time", [bad] + list(df["time"][1:])))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and "'time'" in msg and "'P0'" in msg


@pytest.mark.parametrize("bad", ["2", "-1", "yes"])
def test_event_not_binary(cohort_dir: Path, bad: str, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("event", list(df["event"][:3]) + [bad] + list(df["event"][4:])))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and "'event'" in msg and "'P3'" in msg


def test_duplicate_patient_ids(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("patient_id", ["P0", "P1", "P1", "P3", "P4", "P5"]))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and "duplicate patient id 'P1'" in msg


def test_duplicate_ids_in_modality(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "rna.csv", lambda df: df.__setitem__("patient_id", ["P0", "P0", "P2", "P3", "P4", "P5"]))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "rna.csv" in msg and "duplicate patient id 'P0'" in msg


def test_patient_missing_from_modality(cohort_dir: Path, capsys) -> None:
    rna = pd.read_csv(cohort_dir / "rna.csv")
    rna[~rna.patient_id.isin(["P1", "P4"])].to_csv(cohort_dir / "rna.csv", index=False)
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "rna.csv" in msg and "'P1'" in msg and "2 patient(s) missing" in msg and "--drop-incomplete" in msg


def test_drop_incomplete_says_how_many_and_which(cohort_dir: Path, capsys) -> None:
    rna = pd.read_csv(cohort_dir / "rna.csv")
    rna[~rna.patient_id.isin(["P1", "P4"])].to_csv(cohort_dir / "rna.csv", index=False)
    code = main(["datasets", "check", str(cohort_dir), "--drop-incomplete"])
    out = capsys.readouterr()
    assert code == 0
    assert "dropped 2 patient(s)" in out.err and "P1" in out.err and "P4" in out.err
    c = read_cohort_dir(cohort_dir, drop_incomplete=True)
    assert list(c.ids) == ["P0", "P2", "P3", "P5"]


def test_no_events(cohort_dir: Path, capsys) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.__setitem__("event", ["0"] * 6))
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "clinical.csv" in msg and "no events" in msg


def test_toml_paths_stay_inside_the_directory(cohort_dir: Path, capsys) -> None:
    (cohort_dir / "cohort.toml").write_text('[modalities.rna]\nfile = "../../etc/passwd"\n')
    msg = cli_error(cohort_dir, capsys=capsys)
    assert "outside the cohort directory" in msg


def test_cohort_toml_names_columns_and_kinds(cohort_dir: Path) -> None:
    edit_csv(cohort_dir / "clinical.csv", lambda df: df.rename(columns={"patient_id": "case", "time": "os_months",
                                                                        "event": "dead"}, inplace=True))
    for name in ("rna.csv",):
        edit_csv(cohort_dir / name, lambda df: df.rename(columns={"patient_id": "case"}, inplace=True))
    wsi = pd.read_parquet(cohort_dir / "wsi.parquet").rename(columns={"patient_id": "case"})
    wsi.to_parquet(cohort_dir / "wsi.parquet", index=False)
    (cohort_dir / "cohort.toml").write_text(
        'name = "toy"\ntime_unit = "days"\n[clinical]\nid = "case"\ntime = "os_months"\nevent = "dead"\n'
        'covariates = ["age"]\n[modalities.rna]\nfile = "rna.csv"\nkind = "rna"\n'
        '[modalities.wsi]\nfile = "wsi.parquet"\nkind = "wsi"\n')
    c = intersurv.load_cohort(cohort_dir)
    assert c.name == "toy" and c.time_unit == "days"
    assert c.kinds == {"rna": "rna", "wsi": "wsi"}
    assert c.n_events == 3


def test_in_memory_validation() -> None:
    x = {"a": np.zeros((3, 2))}
    with pytest.raises(CohortError, match="no events"):
        intersurv.Cohort(ids=["a", "b", "c"], time=[1, 2, 3], event=[0, 0, 0], modalities=x)
    with pytest.raises(CohortError, match="shape"):
        intersurv.Cohort(ids=["a", "b", "c"], time=[1, 2, 3], event=[1, 0, 0], modalities={"a": np.zeros((2, 2))})


def test_export_round_trips_exactly(tmp_path: Path) -> None:
    original = intersurv.load_cohort("breast-cancer")
    assert main(["datasets", "export", "breast-cancer", str(tmp_path / "bc")]) == 0
    loaded = intersurv.load_cohort(tmp_path / "bc")
    assert list(loaded.ids) == list(original.ids)
    np.testing.assert_array_equal(loaded.time, original.time)
    np.testing.assert_array_equal(loaded.event, original.event)
    assert loaded.modality_names == original.modality_names
    for m in original.modality_names:
        assert loaded.modalities[m].dtype == np.float32
        np.testing.assert_array_equal(loaded.modalities[m], original.modalities[m])
        assert loaded.feature_names[m] == original.feature_names[m]
    assert loaded.kinds == original.kinds and loaded.time_unit == "days"


def test_export_csv_round_trips_exactly(tmp_path: Path) -> None:
    original = intersurv.load_cohort("breast-cancer")
    write_cohort_dir(original, tmp_path / "bc", table_format="csv")
    loaded = intersurv.load_cohort(tmp_path / "bc")
    for m in original.modality_names:
        np.testing.assert_array_equal(loaded.modalities[m], original.modalities[m])


def test_breast_cancer_builtin() -> None:
    c = intersurv.load_cohort("breast-cancer")
    assert c.n_patients == 198 and c.n_events == 51
    assert c.widths() == {"rna": 76, "clinical": 4}
    assert c.feature_names["clinical"] == ["age", "er", "grade", "size"]
    assert set(np.unique(c.modalities["clinical"][:, 2])) == {1.0, 2.0, 3.0}


def test_subset_keeps_alignment() -> None:
    c = intersurv.load_cohort("breast-cancer")
    s = c.subset([5, 2])
    assert list(s.ids) == [c.ids[5], c.ids[2]]
    np.testing.assert_array_equal(s.modalities["rna"][1], c.modalities["rna"][2])


def test_unknown_source_is_a_one_line_error(capsys) -> None:
    msg = cli_error(Path("no-such-cohort"), capsys=capsys)
    assert "built-in" in msg


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "intersurv", "datasets", "check", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "clinical.csv" in proc.stderr


def test_version_and_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "intersurv", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and intersurv.__version__ in proc.stdout
