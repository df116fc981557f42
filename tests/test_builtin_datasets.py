"""Built-in public cohorts load offline and match their source tables."""

from __future__ import annotations

import numpy as np
import pytest

import intersurv
from intersurv.cli import main

SurvSet = pytest.importorskip("SurvSet.data")


@pytest.mark.parametrize("name, n, n_genes", [("nki70", 144, 70), ("gse4335", 115, 12793)])
def test_survset_cohorts_match_source(name: str, n: int, n_genes: int) -> None:
    df = SurvSet.SurvLoader().load_dataset(name)["df"]
    c = intersurv.load_cohort(name)
    assert c.n_patients == n == len(df)
    assert c.n_events == int(df["event"].sum())
    np.testing.assert_array_equal(c.time, df["time"].to_numpy(float))
    assert c.modality_names == ["clinical", "expression"]
    assert c.modalities["expression"].shape == (n, n_genes)
    # every one-hot block of a categorical variable has at most one 1 per patient
    onehot = [j for j, f in enumerate(c.feature_names["clinical"]) if "_" in f]
    assert set(np.unique(c.modalities["clinical"][:, onehot])) <= {0.0, 1.0}
    assert "metastasis" not in " ".join(c.feature_names["clinical"])


def test_nki70_gene_values_are_the_source_values() -> None:
    df = SurvSet.SurvLoader().load_dataset("nki70")["df"]
    c = intersurv.load_cohort("nki70")
    j = c.feature_names["expression"].index("TSPYL5")
    np.testing.assert_array_equal(c.modalities["expression"][:, j], df["num_TSPYL5"].to_numpy(np.float32))


def test_datasets_list_shows_builtins(capsys) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("breast-cancer", "nki70", "gse4335", "glioma-sim"):
        assert name in out
