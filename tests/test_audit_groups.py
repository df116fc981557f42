"""Feature groups in the audit and the CLI: results.json ``groups``, the report, the group-pair test, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.cli import main
from intersurv.errors import IntersurvError

GROUPS = ('[groups]\nw1 = ["wsi:wsi_0000", "wsi:wsi_0001", "wsi:wsi_0002"]\n'
          'r1 = {rna = ["gene_00000", "gene_00001"]}\nr2 = ["rna:gene_00002", "rna:gene_00003"]\n')


def _cohort() -> intersurv.Cohort:
    return intersurv.simulate("glioma", n=160, seed=3, wsi_dim=12, rna_genes=8, interaction=0.5)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("groups")
    (tmp / "groups.toml").write_text(GROUPS)
    c = _cohort()
    cfg = audit_config({"cohort": "", "architectures": ["late", "early"], "seeds": [0],
                        "protocol": {"kind": "holdout"}, "train": {"max_epochs": 8, "patience": 3},
                        "explain": {"bootstrap": 30, "time_points": 0, "groups": str(tmp / "groups.toml"),
                                    "group_test": ["w1", "r1"]},
                        "prognostic": {"bootstrap": 0, "permutations": 0}},
                       c.modality_names, feature_names=c.feature_names, widths=c.widths())
    return tmp / "run", run_audit(cfg, tmp / "run", cohort=c)


def test_results_carry_the_group_matrix_and_pairs(run) -> None:
    out, results = run
    players = ["w1", "r1", "r2", "wsi:rest", "rna:rest"]
    for arch in ("late", "early"):
        g = json.loads((out / "results.json").read_text())["architectures"][arch]["groups"]
        assert g["players"] == players
        s = np.array(g["share_matrix"])
        assert s.shape == (5, 5) and s.sum() == pytest.approx(1.0)
        assert g["intershap"] == pytest.approx(s.sum() - np.trace(s))
        shares = [p["share"] for p in g["top_pairs"]]
        assert shares == sorted(shares, reverse=True) and len(shares) == 10
        for p in g["top_pairs"]:
            assert p["ci"][0] <= p["share"] + 1e-12 and p["share"] <= p["ci"][1] + 1e-12
    # late fusion is additive across modalities: groups of different modalities never interact
    s = np.array(results["architectures"]["late"]["groups"]["share_matrix"])
    wsi, rna = [0, 3], [1, 2, 4]
    assert np.abs(s[np.ix_(wsi, rna)]).max() < 1e-6  # float32 model: rounding only
    # the modality-level numbers are those of an audit without groups (same explanation, unchanged)
    frame = (out / "units").glob("late*/interactions_groups.csv")
    assert list(frame)


def test_group_pair_test_is_reported_with_its_calibration(run) -> None:
    out, results = run
    test = results["group_test"]
    assert test["groups"] == ["w1", "r1"] and "type-I error" in test["calibration"]
    assert 0 < test["p_value"] <= 1 and test["components"] == {"w1": 3, "r1": 2}
    assert "estimate" not in test and "ci" not in test  # only the calibrated part is reported
    report = (out / "report.html").read_text()
    assert "Feature-group interactions" in report and "no interaction between w1 and r1: p = " in report
    assert (out / "plots" / "group_matrix.png").stat().st_size > 1000


def test_groups_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, capsys) -> None:
    cohort_dir = tmp_path / "cohort"
    assert main(["simulate", "--n", "60", "--param", "rna_genes=8", "--param", "wsi_dim=8",
                 "--out", str(cohort_dir)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[groups]\nx = ["rna:NOPE"]\n')
    capsys.readouterr()
    assert main(["audit", "--cohort", str(cohort_dir), "--groups", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "group 'x'" in err[0] and "'NOPE'" in err[0]
    assert not (tmp_path / "r").exists()
    good = tmp_path / "good.toml"
    good.write_text('[groups]\nx = ["rna:gene_00000"]\n')
    assert main(["audit", "--cohort", str(cohort_dir), "--groups", str(good), "--groups-test", "x,nope",
                 "--out", str(tmp_path / "r")]) == 2
    assert "group_test: 'nope' is not a player" in capsys.readouterr().err


def test_group_test_needs_groups() -> None:
    with pytest.raises(IntersurvError, match="group_test must name two different players"):
        audit_config({"cohort": "", "explain": {"group_test": ["a", "b"]}}, ["a", "b"])


def _tcga_like(n: int = 80, seed: int = 0) -> intersurv.Cohort:
    """A cohort named like an imported TCGA table: gene symbols as the features of rna, cnv and mut."""
    rng = np.random.default_rng(seed)
    names = {"rna": ["EGFR", "TP53", "IDH1", "MKI67"], "cnv": ["EGFR", "CDKN2A"], "mut": ["IDH1", "TP53"]}
    mods = {m: rng.normal(size=(n, len(v))) for m, v in names.items()}
    h = mods["rna"][:, 0] * mods["cnv"][:, 0] + mods["mut"][:, 0]
    t = rng.exponential(1 / np.exp(h)) * 10
    return intersurv.Cohort(ids=np.array([f"P{i}" for i in range(n)]), time=t + 0.1,
                            event=(rng.uniform(size=n) < 0.8).astype(int), modalities=mods, feature_names=names)


def test_groups_command_and_explain_with_groups(tmp_path: Path, capsys) -> None:
    from intersurv.io.cohort_dir import write_cohort_dir

    cohort_dir = tmp_path / "tcga"
    write_cohort_dir(_tcga_like(), cohort_dir, table_format="csv")
    out = tmp_path / "g.toml"
    assert main(["groups", "tcga-genes", str(cohort_dir), "--out", str(out)]) == 0
    text = out.read_text()
    assert "source:" in text and 'EGFR = ["rna:EGFR", "cnv:EGFR"]' in text and 'TP53 = ["rna:TP53", "mut:TP53"]' in text
    assert "players (EGFR, IDH1, TP53, rna:rest, cnv:rest)" in capsys.readouterr().out
    assert main(["train", "--cohort", str(cohort_dir), "--arch", "early", "--seeds", "1", "--max-epochs", "2",
                 "--holdout", "0.3", "--out", str(tmp_path / "run")]) == 0
    assert main(["explain", str(tmp_path / "run"), "--groups", "builtin:tcga-genes=EGFR,TP53", "--bootstrap", "5",
                 "--out", str(tmp_path / "exp")]) == 0
    summary = json.loads((tmp_path / "exp" / "explain_summary.json").read_text())
    (unit,) = summary["units"].values()
    assert unit["modalities"] == ["EGFR", "TP53", "rna:rest", "cnv:rest", "mut:rest"]
    assert summary["groups"] == {"EGFR": ["rna:EGFR", "cnv:EGFR"], "TP53": ["rna:TP53", "mut:TP53"]}
    assert len(unit["top_pairs"]) == 10
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "run"), "--groups", "builtin:tcga-genes=NOPE", "--out",
                 str(tmp_path / "exp2")]) == 2
    assert "gene 'NOPE'" in capsys.readouterr().err
