"""`intersurv datasets import`: the MCAT/PORPOISE/SurvPath slide table -> a cohort directory.

Every table here is built in tmp_path in the published layout (one row per
slide, ``censorship`` 1 = censored, ``<GENE>_rnaseq/_cnv/_mut`` columns).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.cli import main
from intersurv.errors import CohortError
from intersurv.io.tcga_table import import_tcga_table


def slide_table(n: int = 8, seed: int = 0) -> pd.DataFrame:
    """``n`` patients, the first two with two slides each (identical rows but slide_id)."""
    rng = np.random.default_rng(seed)
    codes = ["GBM", "ODG", "ASTR", "GBM"]
    pat = pd.DataFrame({
        "case_id": [f"TCGA-00-{i:04d}" for i in range(n)],
        "age": rng.integers(20, 80, n).astype(float),
        "site": "00",
        "survival_months": np.round(rng.uniform(0.5, 100, n), 2),
        "censorship": [0.0, 1.0] * (n // 2),
        "is_female": rng.integers(0, 2, n).astype(float),
        "oncotree_code": [codes[i % 4] for i in range(n)],
        "train": 1.0,
    })
    for g in ("EGFR", "TP53", "IDH1"):
        pat[f"{g}_rnaseq"] = rng.normal(size=n) * 10
        pat[f"{g}_cnv"] = rng.integers(-2, 3, n)
        pat[f"{g}_mut"] = rng.integers(0, 2, n)
    rows = pd.concat([pat, pat.iloc[:2]]).sort_values("case_id", kind="stable").reset_index(drop=True)
    rows.insert(1, "slide_id", [f"{c}-DX{k}.svs" for k, c in enumerate(rows["case_id"])])
    return rows


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path)  # with the unnamed index column, as published
    return path


def import_error(tmp_path: Path, src: Path, *extra: str, capsys) -> str:
    code = main(["datasets", "import", str(src), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("intersurv: error: "), err
    assert not (tmp_path / "out").exists()
    return lines[0]


def test_import_collapses_slides_and_maps_outcome(tmp_path: Path, capsys) -> None:
    df = slide_table()
    src = write_csv(df, tmp_path / "t.csv")
    assert main(["datasets", "import", str(src), "--out", str(tmp_path / "c")]) == 0
    assert "wrote" in capsys.readouterr().out
    c = intersurv.load_cohort(tmp_path / "c")
    pat = df.drop_duplicates("case_id").set_index("case_id")
    assert c.n_patients == 8 and list(c.ids) == list(pat.index)
    np.testing.assert_array_equal(c.event, 1 - pat["censorship"].to_numpy())
    np.testing.assert_allclose(c.time, pat["survival_months"].to_numpy())
    assert c.time_unit == "months"
    assert c.modality_names == ["rna", "cnv", "mut"] and c.kinds["rna"] == "rna"
    assert c.feature_names["cnv"] == ["EGFR", "TP53", "IDH1"]
    np.testing.assert_allclose(c.modalities["rna"], pat[["EGFR_rnaseq", "TP53_rnaseq", "IDH1_rnaseq"]],
                               rtol=1e-6)
    assert list(c.covariates.columns) == ["age", "is_female"]
    assert list(c.group) == list(pat["oncotree_code"])
    assert main(["datasets", "check", str(tmp_path / "c")]) == 0
    assert "patients    8" in capsys.readouterr().out


def test_zip_and_renamed_suffix(tmp_path: Path) -> None:
    src = write_csv(slide_table(), tmp_path / "t.csv")
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w") as zf:
        zf.write(src, "./t.csv")
    rep = import_tcga_table(tmp_path / "t.csv.zip", suffixes={"rnaseq": "expression"})
    assert rep.cohort.modality_names == ["expression", "cnv", "mut"]
    assert rep.n_slides == 10 and rep.cohort.name == "t"


def test_clinical_grade_is_ordinal_and_gbm_is_four(tmp_path: Path) -> None:
    df = slide_table()
    src = write_csv(df, tmp_path / "t.csv")
    ids = df["case_id"].drop_duplicates().tolist()
    codes = df.drop_duplicates("case_id")["oncotree_code"].tolist()
    grade = ["N/A" if code == "GBM" else ("G2" if i % 2 else "G3") for i, code in enumerate(codes)]
    clin = pd.DataFrame({"case_id": ids + ids[:1], "grade": grade + grade[:1],
                         "subtype": codes + ["other"],  # slides disagreeing on a skipped text column: fine
                         "stage": "N/A", "kps": np.arange(9.0) % 8})
    write_csv(clin, tmp_path / "clin.csv")
    rep = import_tcga_table(src, clinical=tmp_path / "clin.csv")
    cov = rep.cohort.covariates
    assert list(cov.columns) == ["age", "is_female", "grade", "kps"]
    expected = [4.0 if code == "GBM" else (2.0 if i % 2 else 3.0) for i, code in enumerate(codes)]
    np.testing.assert_array_equal(cov["grade"], expected)
    assert rep.skipped_clinical == ["subtype", "stage"]


def test_clinical_missing_value_imputed_by_default_error_or_drop(tmp_path: Path, capsys) -> None:
    df = slide_table()
    src = write_csv(df, tmp_path / "t.csv")
    ids = df["case_id"].drop_duplicates().tolist()
    clin = pd.DataFrame({"case_id": ids, "grade": ["N/A", "N/A", "G2", "N/A", "G3", "G2", "G2", "G2"]})
    write_csv(clin, tmp_path / "clin.csv")  # patient 1 (ODG) has no grade; 0 and 3 are GBM
    assert main(["datasets", "import", str(src), "--out", str(tmp_path / "c"),
                 "--clinical", str(tmp_path / "clin.csv")]) == 0
    out = capsys.readouterr().out
    assert "imputed covariate 'grade' = 2 (median of the other patients) for 1 patient(s)" in out
    assert "TCGA-00-0001" in out
    c = intersurv.load_cohort(tmp_path / "c")
    assert c.n_patients == 8 and c.covariates["grade"].tolist() == [4, 2, 2, 4, 3, 2, 2, 2]  # median of the rest
    msg = import_error(tmp_path, src, "--clinical", str(tmp_path / "clin.csv"), "--missing-covariates", "error",
                       capsys=capsys)
    assert "TCGA-00-0001" in msg and "'grade'" in msg and "--missing-covariates" in msg
    assert "contradicts" in import_error(tmp_path, src, "--drop-incomplete", "--missing-covariates", "error",
                                         capsys=capsys)
    for rep in (import_tcga_table(src, clinical=tmp_path / "clin.csv", drop_incomplete=True),
                import_tcga_table(src, clinical=tmp_path / "clin.csv", missing_covariates="drop")):
        assert rep.dropped == ["TCGA-00-0001"] and rep.cohort.n_patients == 7 and not rep.imputed


def test_empty_age_and_sex_cells_import_with_the_defaults(tmp_path: Path, capsys) -> None:
    df = slide_table(n=10)
    df["age"] = df["age"].astype(object)
    df.loc[df["case_id"] == "TCGA-00-0000", "age"] = ""  # both slides of patient 0
    df.loc[df["case_id"].isin(["TCGA-00-0003", "TCGA-00-0005"]), "age"] = np.nan
    df.loc[df["case_id"] == "TCGA-00-0007", "is_female"] = np.nan
    src = write_csv(df, tmp_path / "t.csv")
    assert main(["datasets", "import", str(src), "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    pat = df.drop_duplicates("case_id").set_index("case_id")
    age = pd.to_numeric(pat["age"], errors="coerce")
    female = pat["is_female"].drop("TCGA-00-0007")
    want_sex = float(female.mean() > 0.5)
    assert f"imputed covariate 'age' = {age.median():g} (median of the other patients) for 3 patient(s)" in out
    assert (f"imputed covariate 'is_female' = {want_sex:g} (more frequent value of the other patients) "
            "for 1 patient(s)") in out
    c = intersurv.load_cohort(tmp_path / "c")
    assert c.n_patients == 10 and np.isfinite(c.covariates.to_numpy(float)).all()
    np.testing.assert_allclose(c.covariates["age"], age.fillna(age.median()))
    assert c.covariates["is_female"].iloc[7] == want_sex
    assert main(["datasets", "check", str(tmp_path / "c")]) == 0  # check says it too
    checked = capsys.readouterr().out
    assert "imputed covariate 'age'" in checked and "TCGA-00-0003" in checked and "ok" in checked
    # the strict behaviour on request: the first empty cell, in one line
    msg = import_error(tmp_path, src, "--missing-covariates", "error", capsys=capsys)
    assert "t.csv" in msg and "'TCGA-00-0000'" in msg and "'age'" in msg and "4 patient(s)" in msg
    # text in a covariate stays an error whatever the policy
    df.loc[df["case_id"] == "TCGA-00-0001", "age"] = "old"
    msg = import_error(tmp_path, write_csv(df, tmp_path / "t2.csv"), capsys=capsys)
    assert "'TCGA-00-0001'" in msg and "'old'" in msg


def test_missing_clinical_patient(tmp_path: Path) -> None:
    df = slide_table()
    src = write_csv(df, tmp_path / "t.csv")
    write_csv(pd.DataFrame({"case_id": df["case_id"].unique()[:5], "kps": 1.0}), tmp_path / "clin.csv")
    with pytest.raises(CohortError, match="TCGA-00-0005.*no row.*3 patient"):
        import_tcga_table(src, clinical=tmp_path / "clin.csv")


def test_missing_censorship(tmp_path: Path, capsys) -> None:
    src = write_csv(slide_table().drop(columns="censorship"), tmp_path / "t.csv")
    assert "missing required column 'censorship'" in import_error(tmp_path, src, capsys=capsys)


def test_slides_disagree(tmp_path: Path, capsys) -> None:
    df = slide_table()
    df.loc[1, "TP53_cnv"] = df.loc[0, "TP53_cnv"] + 1  # rows 0 and 1: two slides of TCGA-00-0000
    msg = import_error(tmp_path, write_csv(df, tmp_path / "t.csv"), capsys=capsys)
    assert "TCGA-00-0000" in msg and "'TP53_cnv'" in msg and "disagree" in msg


def test_non_numeric_feature(tmp_path: Path, capsys) -> None:
    df = slide_table().astype({"EGFR_rnaseq": object})
    df.loc[4, "EGFR_rnaseq"] = "high"
    msg = import_error(tmp_path, write_csv(df, tmp_path / "t.csv"), capsys=capsys)
    assert repr(df.loc[4, "case_id"]) in msg and "'EGFR_rnaseq'" in msg and "'high'" in msg


def test_censorship_not_binary(tmp_path: Path) -> None:
    df = slide_table()
    df["censorship"] = df["censorship"].replace(1.0, 2.0)
    with pytest.raises(CohortError, match="censorship.*0 or 1"):
        import_tcga_table(write_csv(df, tmp_path / "t.csv"))


@pytest.mark.parametrize("content", ["", "case_id,survival_months,censorship,A_mut\n"])
def test_empty_file(tmp_path: Path, content: str, capsys) -> None:
    (tmp_path / "t.csv").write_text(content)
    assert "t.csv:" in import_error(tmp_path, tmp_path / "t.csv", capsys=capsys)


@pytest.mark.parametrize("n_files", [0, 2])
def test_zip_must_hold_one_file(tmp_path: Path, n_files: int, capsys) -> None:
    src = write_csv(slide_table(), tmp_path / "t.csv")
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as zf:
        for k in range(n_files):
            zf.write(src, f"t{k}.csv")
    msg = import_error(tmp_path, tmp_path / "t.zip", capsys=capsys)
    assert f"it holds {n_files}" in msg


def test_no_feature_columns(tmp_path: Path) -> None:
    df = slide_table()
    src = write_csv(df[[c for c in df.columns if "_" not in c or c in ("case_id", "survival_months")]
                       + ["censorship"]], tmp_path / "t.csv")
    with pytest.raises(CohortError, match="no feature column ending in _rnaseq"):
        import_tcga_table(src)


def test_refuses_existing_directory(tmp_path: Path, capsys) -> None:
    src = write_csv(slide_table(), tmp_path / "t.csv")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    code = main(["datasets", "import", str(src), "--out", str(tmp_path / "out")])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_covariates_as_modality_switch(tmp_path: Path, capsys) -> None:
    src = write_csv(slide_table(), tmp_path / "t.csv")
    assert main(["datasets", "import", str(src), "--out", str(tmp_path / "c"),
                 "--covariates-as-modality", "clinical"]) == 0
    c = intersurv.load_cohort(tmp_path / "c")
    assert c.modality_names == ["rna", "cnv", "mut", "clinical"] and c.kinds["clinical"] == "clinical"
    np.testing.assert_array_equal(c.modalities["clinical"], c.covariates.to_numpy(np.float32))
    assert main(["datasets", "import", str(src), "--out", str(tmp_path / "d"),
                 "--covariates-as-modality", "rna"]) == 2
    assert "exists already" in capsys.readouterr().err and not (tmp_path / "d").exists()
