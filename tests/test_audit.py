"""The audit end to end on a small cohort: results.json schema, resume, report, escaping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import intersurv
from intersurv.audit import audit_config, run_audit
from intersurv.cli import main
from intersurv.interactions.synergy import synergy_summary

EVIL_ID = "P0<script>alert(1)</script>&"
EVIL_MODALITY = "<b>wsi"


def small_cohort() -> intersurv.Cohort:
    c = intersurv.simulate("glioma", n=160, seed=1, wsi_dim=24, rna_genes=16)
    ids = c.ids.copy()
    ids[0] = EVIL_ID
    return intersurv.Cohort(ids=ids, time=c.time, event=c.event,
                            modalities={EVIL_MODALITY: c.modalities["wsi"], "rna": c.modalities["rna"]},
                            group=c.group, name="tiny <cohort>")


def config(**extra):
    data = {"cohort": "", "architectures": ["unimodal", "late", "early"], "seeds": [0, 1],
            "train": {"max_epochs": 15, "patience": 5},
            "explain": {"bootstrap": 20, "time_points": 3},
            "prognostic": {"bootstrap": 10, "permutations": 10}, **extra}
    return audit_config(data, [EVIL_MODALITY, "rna"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("audit") / "run"
    return out, run_audit(config(), out, cohort=small_cohort())


def test_results_schema(run) -> None:
    out, results = run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["architectures"].keys() == results["architectures"].keys()
    archs = on_disk["architectures"]
    assert list(archs) == [f"unimodal:{EVIL_MODALITY}", "unimodal:rna", "late", "early"]
    for a in archs.values():
        assert isinstance(a["params"], int)
        assert {"mean", "sd"} <= set(a["c_index"]) and a["c_index"]["across"] == "seeds"
        ish = a["intershap"]
        assert {"mean", "sd", "ci", "aggregation", "masker", "output"} <= set(ish)
        assert ish["aggregation"] == "abs" and ish["masker"] == "mean" and ish["output"] == "log_risk"
        assert set(a["shares"]) == {EVIL_MODALITY, "rna", "interaction"}
        assert sum(a["shares"].values()) == pytest.approx(1.0)
        assert {"mean", "sd"} <= set(a["additive_c_index"])
        assert set(a["synergy"]) == {"pairs", "overall", "synergy_share_ci"}
        assert list(a["synergy"]["pairs"]) == [f"{EVIL_MODALITY}|rna"]
    early = archs["early"]["synergy"]
    assert early["overall"]["synergy"] + early["overall"]["redundancy"] > 0
    assert early["synergy_share_ci"][0] <= early["overall"]["synergy_share"] <= early["synergy_share_ci"][1]
    assert on_disk["truth"] is None


def test_additive_models_show_no_interaction(run) -> None:
    _, results = run
    archs = results["architectures"]
    for name in ("late", "unimodal:rna"):
        assert archs[name]["intershap"]["mean"] < 1e-5
    assert archs["unimodal:rna"]["shares"][EVIL_MODALITY] < 1e-5
    for name in ("late", "unimodal:rna"):  # no interaction, so neither synergy nor redundancy
        assert archs[name]["synergy"]["overall"]["kind"] == "none"
        assert archs[name]["synergy"]["synergy_share_ci"] == [None, None]
    # an additive model is its own additive projection
    assert archs["late"]["additive_c_index"]["mean"] == pytest.approx(archs["late"]["c_index"]["mean"], abs=1e-6)


def test_patients_table_has_one_row_per_unit_and_test_patient(run) -> None:
    import pandas as pd

    out, _ = run
    patients = pd.read_csv(out / "patients.csv", dtype={"patient_id": str})
    n_test = sum(len(json.loads((d / "split.json").read_text())["test"]) for d in (out / "units").iterdir())
    assert len(patients) == n_test
    assert {"arch", "seed", "fold", "patient_id", "log_risk", "local_intershap", f"shapley_{EVIL_MODALITY}"} \
        <= set(patients.columns)


def test_report_escapes_ids_and_modality_names(run) -> None:
    out, _ = run
    html = (out / "report.html").read_text()
    assert "<script" not in html and "<b>wsi" not in html
    assert "&lt;b&gt;wsi" in html
    assert (out / "plots").is_dir() and any((out / "plots").glob("*.png"))


def test_resume_recomputes_nothing_and_gives_the_same_results(run) -> None:
    out, first = run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "units").glob("*/result.json")}
    again = run_audit(config(), out, cohort=small_cohort())
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    first, again = dict(first), dict(again)
    first.pop("created"), again.pop("created")
    assert json.dumps(first, sort_keys=True, default=str) == json.dumps(again, sort_keys=True, default=str)


def test_resume_with_other_settings_is_refused(run) -> None:
    out, _ = run
    with pytest.raises(intersurv.IntersurvError, match="masker"):
        run_audit(config(explain={"masker": "zero", "bootstrap": 20, "time_points": 3}), out, cohort=small_cohort())


def test_report_command_rebuilds_without_retraining(run, capsys) -> None:
    out, _ = run
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()
    printed = capsys.readouterr().out
    assert printed.startswith("Answer:") and printed.index("Verdict:") < printed.index("architecture")
    assert printed.index("best model") < printed.index("Verdict:")  # the answer block, then the sentences
    assert "Paired comparisons:" in printed and "late fusion" in printed
    html = (out / "report.html").read_text()
    assert (html.index('class="answer"') < html.index('class="verdict"') < html.index("Main table")
            < html.index("Paired comparisons"))


def test_bad_config_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text('cohort = "breast-cancer"\n[explain]\nmasker = "median"\n')
    assert main(["audit", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[explain]: masker 'median'" in err[0]
    assert not (tmp_path / "r").exists()


def test_true_log_risk_is_explained_like_the_models(tmp_path: Path) -> None:
    c = intersurv.simulate("glioma", n=160, seed=2, wsi_dim=24, rna_genes=16, interaction=0.3)
    cfg = audit_config({"cohort": "", "architectures": ["late"], "seeds": [0], "train": {"max_epochs": 3},
                        "explain": {"bootstrap": 0, "time_points": 0},
                        "prognostic": {"bootstrap": 0, "permutations": 0}}, c.modality_names)
    results = run_audit(cfg, tmp_path / "run", cohort=c)
    truth = results["truth"]
    assert truth["whole_cohort"]["intershap"] == pytest.approx(c.truth["interaction"]["mean"]["intershap"]["abs"])
    unit = intersurv.training.rundir.RunDir(tmp_path / "run").units()[0]
    split = unit.split
    pos = {p: i for i, p in enumerate(c.ids)}
    test = c.subset([pos[p] for p in split["test"]])
    ref = c.subset([pos[p] for p in split["train"]]).X
    from intersurv.datasets.simulate import TrueLogRisk

    true_exp = intersurv.explain(TrueLogRisk(c.truth), test, reference=ref)
    assert truth["intershap"] == pytest.approx(true_exp.score(), rel=1e-12)
    split_of_truth = synergy_summary(true_exp.mobius, true_exp.modalities)["overall"]["synergy_share"]
    assert truth["synergy_share"] == pytest.approx(split_of_truth, rel=1e-12)
    assert truth["whole_cohort"]["synergy"] == c.truth["interaction"]["mean"]["synergy"]
    assert np.isfinite(results["architectures"]["late"]["c_index"]["mean"])


def test_paired_differences_per_unit_equal_lifelines_c_differences(run) -> None:
    import pandas as pd
    from lifelines.utils import concordance_index

    out, results = run
    assert results["protocol"]["kind"] == "holdout" and results["protocol"]["folds"] == 1
    entry = results["comparisons"]["early"]["late"]
    assert {"delta_c", "ci", "p_value", "method", "delta_c_uno", "delta_ibs", "discordance"} <= set(entry)
    c = {}
    for arch in ("early", "late"):
        for seed in (0, 1):
            p = pd.read_csv(out / "units" / f"{arch}_s{seed}_f0" / "predictions.csv")
            c[arch, seed] = concordance_index(p["time"], -p["log_risk"], p["event"])
    expected = [c["early", s] - c["late", s] for s in (0, 1)]
    assert entry["values"] == pytest.approx(expected, abs=1e-9)
    assert entry["delta_c"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert entry["ci"][0] < entry["delta_c"] < entry["ci"][1]
    assert results["references"]["best_unimodal"] in ("unimodal:rna", f"unimodal:{EVIL_MODALITY}")
    assert results["verdict"] and all(isinstance(s, str) for s in results["verdict"])


def test_default_protocol_is_cv_up_to_1000_patients() -> None:
    base = {"cohort": "x", "architectures": ["late"], "seeds": [0]}
    assert audit_config(base, ["a", "b"], n_patients=1000).protocol.kind == "cv"
    assert audit_config(base, ["a", "b"], n_patients=1000).protocol.folds == 5
    assert audit_config(base, ["a", "b"], n_patients=1001).protocol.kind == "holdout"
    given = {**base, "protocol": {"test_fraction": 0.3}}
    assert audit_config(given, ["a", "b"], n_patients=100).protocol.kind == "holdout"
    given = {**base, "protocol": {"folds": 3}}
    assert audit_config(given, ["a", "b"], n_patients=5000).protocol.folds == 3


def test_a_constant_units_missing_score_leaves_the_interval_of_the_others(recwarn) -> None:
    """A unit whose model is constant (all coalition values equal: no attribution, InterSHAP 0/0) is left
    out of the bootstrap interval of the mean score, as it is left out of the mean; no NaN warning."""
    import pandas as pd

    from intersurv.audit.results import _mean_score_ci
    from intersurv.interactions.settings import ExplainSettings

    rng = np.random.default_rng(0)
    v = rng.normal(size=(40, 4))
    varied = pd.DataFrame(v, columns=[f"v:{c}" for c in ("{}", "a", "b", "ab")])
    constant = pd.DataFrame(np.full((30, 4), 0.7), columns=varied.columns)
    settings = ExplainSettings(bootstrap=50)
    alone = _mean_score_ci([varied], ["a", "b"], settings, seed=3)
    assert np.all(np.isfinite(alone)) and alone[0] < alone[1]
    assert _mean_score_ci([varied, constant], ["a", "b"], settings, seed=3) == alone
    assert np.all(np.isnan(_mean_score_ci([constant], ["a", "b"], settings, seed=3)))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
