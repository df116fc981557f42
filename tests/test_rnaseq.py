"""RNA-seq import: GDC STAR count files and matrices -> the rna modality.

Expected values are computed here from the raw numbers the tests write
(np.log2(x + 1), counts of non-zero samples, scipy's MAD), never from
intersurv's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import median_abs_deviation

from intersurv.cli import main
from intersurv.errors import IntersurvError
from intersurv.rnaseq import prepare_rnaseq
from intersurv.rnaseq.patients import choose_samples, tcga_patient, tcga_sample_type
from intersurv.rnaseq.transform import top_k

STAR_HEADER = ["gene_id", "gene_name", "gene_type", "unstranded", "stranded_first", "stranded_second",
               "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]
GENES = ["ENSG01.1", "ENSG02.1", "ENSG03.1", "ENSG04.1", "ENSG05.1"]
PATIENTS = ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003", "TCGA-AA-0004", "TCGA-AA-0005"]

# Sample barcode -> fpkm_uq values of GENES. Chosen samples (one per patient) are marked *.
SAMPLES = {
    "TCGA-AA-0001-01A-11R-A00Z-07": [5.0, 1.0, 0.0, 2.0, 7.0],   # * primary tumour
    "TCGA-AA-0001-11A-01R-A00Z-07": [99.0, 99.0, 99.0, 99.0, 99.0],  # normal: never used
    "TCGA-AA-0002-01B-11R-A00Z-07": [88.0, 88.0, 88.0, 88.0, 88.0],  # vial B loses to vial A
    "TCGA-AA-0002-01A-11R-A00Z-07": [3.0, 0.0, 0.0, 4.0, 1.5],   # *
    "TCGA-AA-0003-06A-11R-A00Z-07": [8.0, 2.0, 0.0, 0.5, 3.0],   # * metastatic, the only tumour sample
    "TCGA-AA-0004-02A-11R-A00Z-07": [77.0, 77.0, 77.0, 77.0, 77.0],  # recurrent loses to primary
    "TCGA-AA-0004-01A-11R-A00Z-07": [1.0, 6.0, 0.0, 0.0, 2.5],   # *
}
CHOSEN = {"TCGA-AA-0001": "TCGA-AA-0001-01A-11R-A00Z-07", "TCGA-AA-0002": "TCGA-AA-0002-01A-11R-A00Z-07",
          "TCGA-AA-0003": "TCGA-AA-0003-06A-11R-A00Z-07", "TCGA-AA-0004": "TCGA-AA-0004-01A-11R-A00Z-07"}


def write_clinical(path: Path, ids: list[str] = PATIENTS) -> Path:
    n = len(ids)
    pd.DataFrame({"patient_id": ids, "time": np.arange(1, n + 1) * 10.0,
                  "event": [1, 0] * (n // 2) + [1] * (n % 2)}).to_csv(path, index=False)
    return path


def write_star(path: Path, values: list[float]) -> None:
    """A GDC STAR file: a comment line, the header, four N_ rows, then genes (other columns derived)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# gene-model: GENCODE v36", "\t".join(STAR_HEADER)]
    for n_row in ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous"):
        lines.append("\t".join([n_row, "", "", "123456", "61728", "61728", "", "", ""]))
    for g, v in zip(GENES, values):
        counts = int(v * 10)
        lines.append("\t".join([g, "SYM" + g[4:6], "protein_coding", str(counts), str(counts // 2),
                                str(counts - counts // 2), f"{v * 2:.4f}", f"{v / 2:.4f}", f"{v:.4f}"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def star_dir(tmp_path: Path) -> tuple[Path, Path]:
    """STAR files named by UUID in per-file folders (as the GDC client writes them) and a sample sheet."""
    folder = tmp_path / "gdc"
    rows = []
    for i, (barcode, values) in enumerate(SAMPLES.items()):
        fname = f"0000{i}-uuid.rna_seq.augmented_star_gene_counts.tsv"
        write_star(folder / f"dir{i}" / fname, values)
        rows.append({"File ID": f"id{i}", "File Name": fname, "Data Category": "Transcriptome Profiling",
                     "Data Type": "Gene Expression Quantification", "Project ID": "TCGA-XX",
                     "Case ID": barcode[:12], "Sample ID": barcode[:16], "Sample Type": "x"})
    sheet = tmp_path / "gdc_sample_sheet.tsv"
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    return folder, sheet


def expected_rna(min_nonzero: float = 0.8) -> pd.DataFrame:
    """The rna table computed directly from SAMPLES: chosen samples, genes non-zero in > min_nonzero, log2(x+1)."""
    raw = pd.DataFrame({p: SAMPLES[s] for p, s in CHOSEN.items()}, index=GENES).T
    keep = [g for g in GENES if (raw[g] > 0).sum() / len(raw) > min_nonzero]
    return np.log2(raw[keep] + 1.0)


def assert_rna_equals(path: Path, expected: pd.DataFrame) -> None:
    got = pd.read_parquet(path).set_index("patient_id")
    assert list(got.index) == list(expected.index)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-6)


def test_star_files_with_sample_sheet(star_dir, tmp_path: Path, capsys) -> None:
    folder, sheet = star_dir
    clinical = write_clinical(tmp_path / "clinical.csv")
    out = tmp_path / "cohort"
    code = main(["rnaseq", "prepare", str(folder), "--clinical", str(clinical), "--out", str(out),
                 "--sample-sheet", str(sheet)])
    assert code == 0, capsys.readouterr().err
    exp = expected_rna()
    # Genes 2 and 3 are zero in 1 and 4 of the 4 chosen samples: 75 % and 0 % are not > 80 %;
    # gene 4 is zero in 1 of 4 too. N_ rows never appear as genes.
    assert list(exp.columns) == ["ENSG01.1", "ENSG05.1"]
    assert_rna_equals(out / "rna.parquet", exp)
    assert (out / "clinical.csv").read_bytes() == clinical.read_bytes()
    # TCGA-AA-0005 has no sample: the patient is simply absent from the table.
    assert "TCGA-AA-0005" not in pd.read_parquet(out / "rna.parquet")["patient_id"].tolist()


def test_nonzero_threshold_is_configurable_and_strict(star_dir, tmp_path: Path) -> None:
    folder, sheet = star_dir
    clinical = write_clinical(tmp_path / "clinical.csv")
    res = prepare_rnaseq(folder, clinical, tmp_path / "c", sample_sheet=sheet, min_nonzero=0.7)
    assert res.genes == ["ENSG01.1", "ENSG02.1", "ENSG04.1", "ENSG05.1"]  # 75 % > 70 %
    assert_rna_equals(res.path, expected_rna(0.7))
    res = prepare_rnaseq(folder, clinical, tmp_path / "d", sample_sheet=sheet, min_nonzero=0.75)
    assert res.genes == ["ENSG01.1", "ENSG05.1"]  # 75 % is not more than 75 %


def test_value_column_choice(star_dir, tmp_path: Path) -> None:
    folder, sheet = star_dir
    clinical = write_clinical(tmp_path / "clinical.csv")
    res = prepare_rnaseq(folder, clinical, tmp_path / "c", sample_sheet=sheet, value_column="tpm_unstranded",
                         min_nonzero=0.0)
    got = pd.read_parquet(res.path).set_index("patient_id")
    # tpm_unstranded was written as 2 * fpkm_uq (rounded to 4 decimals).
    np.testing.assert_allclose(got.loc["TCGA-AA-0003", "ENSG02.1"], np.log2(2 * 2.0 + 1), rtol=1e-6)
    with pytest.raises(IntersurvError, match="no value column 'tpm'.*tpm_unstranded"):
        prepare_rnaseq(folder, clinical, tmp_path / "e", sample_sheet=sheet, value_column="tpm")


def test_star_files_named_by_barcode(tmp_path: Path) -> None:
    folder = tmp_path / "star"
    for barcode, values in SAMPLES.items():
        write_star(folder / f"{barcode}.rna_seq.augmented_star_gene_counts.tsv", values)
    res = prepare_rnaseq(folder, write_clinical(tmp_path / "clinical.csv"), tmp_path / "c")
    assert_rna_equals(res.path, expected_rna())


def test_uuid_names_without_sheet_point_to_sample_sheet(star_dir, tmp_path: Path, capsys) -> None:
    folder, _ = star_dir
    clinical = write_clinical(tmp_path / "clinical.csv")
    code = main(["rnaseq", "prepare", str(folder), "--clinical", str(clinical), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "00000-uuid" in err and "--sample-sheet" in err


def matrix_frame() -> pd.DataFrame:
    """samples x genes, indexed by sample barcode."""
    return pd.DataFrame(SAMPLES, index=GENES).T


@pytest.mark.parametrize("layout", ["genes_csv", "samples_parquet", "genes_tsv"])
def test_matrix_orientation_is_detected(layout: str, tmp_path: Path) -> None:
    m = matrix_frame()
    if layout == "genes_csv":
        path = tmp_path / "expr.csv"
        m.T.rename_axis("gene").reset_index().to_csv(path, index=False)
    elif layout == "genes_tsv":
        path = tmp_path / "expr.tsv"
        m.T.rename_axis("gene").reset_index().to_csv(path, sep="\t", index=False)
    else:
        path = tmp_path / "expr.parquet"
        m.rename_axis("sample").to_parquet(path)  # labels stored as the parquet index
    res = prepare_rnaseq(path, write_clinical(tmp_path / "clinical.csv"), tmp_path / "c")
    assert_rna_equals(res.path, expected_rna())


def test_matrix_labelled_by_patient_id_and_ambiguous_orientation(tmp_path: Path, capsys) -> None:
    ids = ["P1", "P2", "P3"]
    m = pd.DataFrame({"sample": ids, "g1": [1.0, 2.0, 3.0], "g2": [0.0, 5.0, 1.0]})
    m.to_csv(tmp_path / "expr.csv", index=False)
    clinical = write_clinical(tmp_path / "clinical.csv", ids)
    res = prepare_rnaseq(tmp_path / "expr.csv", clinical, tmp_path / "c", min_nonzero=0.5)
    got = pd.read_parquet(res.path).set_index("patient_id")
    np.testing.assert_allclose(got.to_numpy(), np.log2(m[["g1", "g2"]].to_numpy() + 1), rtol=1e-6)
    # Neither axis holds patient ids or barcodes: the user must say which is which.
    m.assign(sample=["x1", "x2", "x3"]).to_csv(tmp_path / "bad.csv", index=False)
    code = main(["rnaseq", "prepare", str(tmp_path / "bad.csv"), "--clinical", str(clinical),
                 "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and "--orientation" in err and "bad.csv" in err


def test_unmatched_sample_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    m = matrix_frame()
    m.loc["TCGA-ZZ-9999-01A-11R-A00Z-07"] = [1.0] * len(GENES)
    m.rename_axis("sample").reset_index().to_csv(tmp_path / "expr.csv", index=False)
    clinical = write_clinical(tmp_path / "clinical.csv")
    args = ["rnaseq", "prepare", str(tmp_path / "expr.csv"), "--clinical", str(clinical),
            "--out", str(tmp_path / "c")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("intersurv: error: ") and len(err.splitlines()) == 1
    assert "TCGA-ZZ-9999-01A-11R-A00Z-07" in err and "clinical.csv" in err
    assert not (tmp_path / "c" / "rna.parquet").exists()
    assert main(args + ["--drop-unmatched"]) == 0
    assert_rna_equals(tmp_path / "c" / "rna.parquet", expected_rna())


def test_negative_values_refused_unless_no_log2(tmp_path: Path) -> None:
    m = pd.DataFrame({"sample": ["P1", "P2"], "g1": [-0.5, 1.2], "g2": [0.3, 0.0]})
    m.to_csv(tmp_path / "expr.csv", index=False)
    clinical = write_clinical(tmp_path / "clinical.csv", ["P1", "P2"])
    with pytest.raises(IntersurvError, match="negative"):
        prepare_rnaseq(tmp_path / "expr.csv", clinical, tmp_path / "c", min_nonzero=0.0)
    res = prepare_rnaseq(tmp_path / "expr.csv", clinical, tmp_path / "c", min_nonzero=0.0, log2=False)
    np.testing.assert_allclose(pd.read_parquet(res.path)[["g1", "g2"]].to_numpy(), m[["g1", "g2"]].to_numpy())


def test_non_numeric_cell_named(tmp_path: Path) -> None:
    pd.DataFrame({"sample": ["P1", "P2"], "g1": ["1.0", "oops"]}).to_csv(tmp_path / "expr.csv", index=False)
    clinical = write_clinical(tmp_path / "clinical.csv", ["P1", "P2"])
    with pytest.raises(IntersurvError, match=r"sample 'P2', gene 'g1' has 'oops'"):
        prepare_rnaseq(tmp_path / "expr.csv", clinical, tmp_path / "c")


def test_existing_different_clinical_is_not_overwritten(star_dir, tmp_path: Path) -> None:
    folder, sheet = star_dir
    out = tmp_path / "c"
    out.mkdir()
    (out / "clinical.csv").write_text("patient_id,time,event\nX,1,1\n")
    with pytest.raises(IntersurvError, match="different clinical"):
        prepare_rnaseq(folder, write_clinical(tmp_path / "clinical.csv"), out, sample_sheet=sheet)
    assert (out / "clinical.csv").read_text() == "patient_id,time,event\nX,1,1\n"


@pytest.mark.parametrize("ranking", ["variance", "mad"])
def test_top_k_matches_reference_spread(ranking: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, g = 12, 30
    raw = rng.gamma(2.0, 5.0, size=(n, g)) * rng.uniform(0.1, 3.0, size=g)
    ids = [f"P{i}" for i in range(n)]
    genes = [f"g{j}" for j in range(g)]
    pd.DataFrame(raw, columns=genes).assign(sample=ids)[["sample", *genes]].to_csv(tmp_path / "e.csv", index=False)
    res = prepare_rnaseq(tmp_path / "e.csv", write_clinical(tmp_path / "clinical.csv", ids), tmp_path / "c",
                         top=7, ranking=ranking)
    logx = pd.DataFrame(np.log2(raw + 1), columns=genes)
    score = logx.var(ddof=1) if ranking == "variance" else pd.Series(median_abs_deviation(logx, axis=0), genes)
    assert set(res.genes) == set(score.nlargest(7).index)
    assert res.genes == sorted(res.genes, key=genes.index)  # original gene order is kept


def test_top_k_ties_broken_by_gene_order() -> None:
    x = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])  # all four have the same spread
    assert top_k(x, 2, "variance").tolist() == [0, 1]


def test_barcode_helpers_and_duplicate_rule() -> None:
    assert tcga_patient("tcga-ab-1234-01A-11R") == "TCGA-AB-1234"
    assert tcga_patient("P1") is None and tcga_sample_type("TCGA-AB-1234") is None
    assert tcga_sample_type("TCGA-AB-1234-11A") == 11
    labels = list(SAMPLES)
    chosen = choose_samples(labels, [tcga_patient(s) for s in labels])
    assert {p: labels[i] for p, i in chosen.items()} == CHOSEN
    # A patient with only a normal sample gets none.
    assert choose_samples(["TCGA-AB-1234-11A"], ["TCGA-AB-1234"]) == {}
