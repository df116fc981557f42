"""``intersurv explain RUN_DIR`` on a run directory: per-unit CSVs and the summary JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from intersurv import Cohort, explain, load_cohort
from intersurv.cli import main
from intersurv.io.cohort_dir import write_cohort_dir
from intersurv.training.rundir import ExperimentConfig, RunDir, Unit
from test_interactions_explain import CoxModel, _cox_cohort


def _h(X):
    return 0.8 * np.tanh(X["wsi"] @ np.ones(3)) + 0.5 * X["rna"][:, 0] * X["wsi"][:, 1] - 0.3 * X["rna"][:, 1]


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X = {"wsi": rng.normal(size=(60, 3)), "rna": rng.normal(size=(60, 2))}
    time, event = _cox_cohort(_h(X), rng)
    cohort = Cohort(ids=[f"TCGA-{i:02d}" for i in range(60)], time=time, event=event, modalities=X)
    write_cohort_dir(cohort, tmp_path / "cohort")
    cohort = load_cohort(str(tmp_path / "cohort"))  # as the run will see it
    config = ExperimentConfig(cohort=str(tmp_path / "cohort"), architectures=("early", "unimodal:wsi"),
                              seeds=(0, 1))
    run = RunDir.create(tmp_path / "run", config, cohort)
    ids = list(cohort.ids)
    for unit in run.units():
        perm = np.random.default_rng(unit.seed).permutation(60)
        split = {"train": [ids[i] for i in perm[:40]], "val": [ids[i] for i in perm[40:45]],
                 "test": [ids[i] for i in perm[45:]]}
        unit.path.mkdir(parents=True)
        (unit.path / "split.json").write_text(json.dumps(split))
        if unit.seed == 0:  # seed 1 is unfinished
            (unit.path / "result.json").write_text("{}")

    def load_model(self: Unit) -> CoxModel:
        c = self.run.load_cohort()
        train = pd.Index(c.ids).get_indexer(self.split["train"])
        mods = ["wsi", "rna"] if self.arch == "early" else ["wsi"]
        fn = _h if self.arch == "early" else (lambda X: X["wsi"][:, 0])
        return CoxModel(fn, mods, reference={m: c.modalities[m][train] for m in mods})

    monkeypatch.setattr(Unit, "load_model", load_model)
    return run


def test_explain_writes_per_patient_values_and_a_summary(run_dir, capsys):
    assert main(["explain", str(run_dir.path), "--masker", "marginal", "--background", "20",
                 "--bootstrap", "30"]) == 0
    assert "early_s0_f0" in capsys.readouterr().out
    unit = next(u for u in run_dir.units() if u.arch == "early" and u.seed == 0)
    frame = pd.read_csv(unit.path / "interactions.csv")
    assert list(frame["patient_id"]) == unit.split["test"]
    # the same numbers as the library: test patients explained against the training patients
    cohort = run_dir.load_cohort()
    pos = pd.Index(cohort.ids)
    model = unit.load_model()
    e = explain(model, cohort.subset(pos.get_indexer(unit.split["test"])), masker="marginal", background=20,
                bootstrap=30)
    np.testing.assert_allclose(frame["local_intershap"], e.local_scores(), atol=1e-9)
    summary = json.loads((run_dir.path / "explain_summary.json").read_text())
    assert (summary["masker"], summary["output"], summary["aggregation"]) == ("marginal", "log_risk", "abs")
    assert set(summary["units"]) == {"early_s0_f0"}
    assert summary["skipped"] == {"unimodal-wsi_s0_f0": "one modality (wsi)"}
    got = summary["units"]["early_s0_f0"]
    assert got["intershap"] == pytest.approx(e.score(), abs=1e-12)
    assert got["bootstrap"]["intershap"] == pytest.approx(e.bootstrap_ci()["intershap"], abs=1e-12)
    assert (got["arch"], got["seed"], got["fold"], got["n_patients"]) == ("early", 0, 0, 15)


def test_explain_user_errors_exit_2(run_dir, tmp_path, capsys):
    assert main(["explain", str(run_dir.path), "--output", "hazard@3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("intersurv: error: output 'hazard@3'") and "\n" not in err
    assert main(["explain", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_train_then_explain_a_late_fusion_run(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = {"wsi": rng.normal(size=(90, 3)), "rna": rng.normal(size=(90, 2))}
    time, event = _cox_cohort(_h(X), rng)
    write_cohort_dir(Cohort(ids=[f"P{i}" for i in range(90)], time=time, event=event, modalities=X),
                     tmp_path / "cohort")
    run = tmp_path / "run"
    assert main(["train", "--cohort", str(tmp_path / "cohort"), "--arch", "late", "--seeds", "1",
                 "--max-epochs", "2", "--out", str(run)]) == 0
    assert main(["explain", str(run), "--masker", "marginal", "--background", "20", "--bootstrap", "0"]) == 0
    got = json.loads((run / "explain_summary.json").read_text())["units"]["late_s0_f0"]
    assert got["intershap"] < 1e-5  # the trained late model, through the coalition code
    cost = got["cost_of_additivity"]
    assert cost["c_index"] == pytest.approx(cost["additive_c_index"], abs=1e-3)
    frame = pd.read_csv(run / "units" / "late_s0_f0" / "interactions.csv")
    split = json.loads((run / "units" / "late_s0_f0" / "split.json").read_text())
    assert list(frame["patient_id"]) == split["test"]
