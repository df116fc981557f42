"""``intersurv study``: several cohorts (TCGA-layout tables imported on the fly) audited in one pool,
resumable as a whole, identical on Ray; the combined answer (study.json) and its report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.audit.meta import holm, random_effects
from intersurv.cli import main
from intersurv.report.study import cohort_sentence, render_study_html
from intersurv.study.cohorts import cohorts_from_toml
from intersurv.study.summary import study_summary

#: A tiny audit configuration (few epochs, few resamples), also used by test_ray.
CONFIG = """
[train]
max_epochs = 4
patience = 2
[explain]
bootstrap = 10
time_points = 3
[prognostic]
bootstrap = 5
permutations = 5
"""
SRC = str(Path(intersurv.__file__).resolve().parents[1])
NAMES = ("alpha", "beta")


def tcga_table(path: Path, seed: int) -> Path:
    """A small simulated cohort written in the slide-table layout of ``datasets import``."""
    c = intersurv.simulate("glioma", n=120, seed=seed, wsi_dim=6, rna_genes=6)
    df = pd.DataFrame({"case_id": c.ids, "slide_id": [f"{i}-DX1" for i in c.ids], "age": c.covariates["age"],
                       "is_female": 1 - c.covariates["male"], "survival_months": c.time,
                       "censorship": 1.0 - c.event})
    for j in range(c.modalities["rna"].shape[1]):
        df[f"G{j}_rnaseq"] = c.modalities["rna"][:, j]
    for j in range(c.modalities["wsi"].shape[1]):
        df[f"W{j}_cnv"] = c.modalities["wsi"][:, j]
    df.to_csv(path, index=False)
    return path


@contextmanager
def local_ray(ray: Any) -> Iterator[str]:
    """A local Ray instance of 2 CPUs whose workers import this checkout's intersurv; yields its address."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, before) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before


def study_args(tmp: Path, out: Path) -> list[str]:
    cfg = tmp / "study.toml"
    cfg.write_text(CONFIG)
    tables = [tmp / f"{n}.csv" for n in NAMES]
    for seed, table in enumerate(tables, 1):
        if not table.exists():
            tcga_table(table, seed)
    return ["study", "--cohorts", *map(str, tables), "--covariates-as-modality", "clinical", "--arch", "late,gated,clinical",
            "--seeds", "2", "--holdout", "0.3", "--config", str(cfg), "--out", str(out)]


def study_results(out: Path) -> dict[str, Any]:
    """Every unit's result.json (without its timing), each cohort's architectures and the study answer."""
    got: dict[str, Any] = {}
    for f in sorted(out.glob("cohorts/*/units/*/result.json")):
        res = json.loads(f.read_text())
        res.pop("seconds")
        got[f"{f.parents[2].name}/{f.parent.name}"] = res
    for name in NAMES:
        got[name] = json.loads((out / "cohorts" / name / "results.json").read_text())["architectures"]
    study = json.loads((out / "study.json").read_text())
    study.pop("created")
    got["study"] = study
    return got


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("serial")
    assert main([*study_args(tmp, tmp / "out"), "--jobs", "1"]) == 0
    return tmp / "out", study_results(tmp / "out")


def test_layout_and_combined_answer(serial: tuple[Path, dict[str, Any]]) -> None:
    out, got = serial
    for name in NAMES:  # each cohort a normal audit run
        assert (out / "cohorts" / name / "report.html").is_file()
        assert (out / "cohorts" / name / "cohort").is_dir()  # the imported table, stored in the run
    assert (out / "study.html").is_file() and (out / "plots" / "forest.png").is_file()
    study = got["study"]
    assert [r["name"] for r in study["cohorts"]] == list(NAMES)
    assert study["architectures"] == ["gated"]
    row = study["cohorts"][0]
    assert row["best"]["arch"] == "gated" and set(row["best"]["versus"]) == {"late", "clinical"}
    assert row["interaction"] is not None and "minimum_detectable" in row["interaction"]
    for ref in ("late", "clinical"):
        entries = study["comparisons"][ref]["gated"]
        assert list(entries) == list(NAMES)
        for name, e in entries.items():  # straight from the cohort's results.json
            own = json.loads((out / "cohorts" / name / "results.json").read_text())["comparisons"]["gated"][ref]
            assert e["delta_c"] == own["delta_c"] and e["ci"] == own["ci"]
            assert e["se"] == pytest.approx(own["se"], rel=1e-9)
        assert [e["p_adjusted"] for e in entries.values()] == pytest.approx(holm([e["p_value"] for e in entries.values()]))
        pooled = study["pooled"][ref]["gated"]
        again = random_effects([e["delta_c"] for e in entries.values()], [e["se"] ** 2 for e in entries.values()])
        assert pooled["estimate"] == pytest.approx(again["estimate"]) and pooled["i2"] == pytest.approx(again["i2"])
    html = (out / "study.html").read_text()
    assert "Combined answer" in html and "DerSimonian-Laird" in html and "Holm" in html


def test_report_rebuilds_the_study_from_the_cohorts(serial: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(serial[0], tmp_path / "study")
    (copy / "study.html").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "study.html").is_file()
    study = json.loads((copy / "study.json").read_text())
    study.pop("created")
    assert study == serial[1]["study"]


def test_killed_study_resumes_without_retraining(serial: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = study_args(tmp_path, out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "intersurv", "-q", *args, "--jobs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 180
    while len(list(out.glob("cohorts/*/units/*/result.json"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no unit finished in 180 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {f: f.stat().st_mtime_ns for f in out.glob("cohorts/*/units/*/result.json")}
    assert 2 <= len(finished) < 12, "the study finished before it was killed: the test proves nothing"
    assert main([*args, "--jobs", "2"]) == 0
    assert {f: f.stat().st_mtime_ns for f in finished} == finished  # not retrained
    assert study_results(out) == serial[1]


def test_study_on_ray_equals_serial(serial: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'intersurv[ray]')")
    with local_ray(ray):
        assert main([*study_args(tmp_path, tmp_path / "out"), "--executor", "ray"]) == 0
    assert study_results(tmp_path / "out") == serial[1]


def test_duplicate_names_fail_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tcga_table(tmp_path / "same.csv", 1)
    (tmp_path / "b").mkdir()
    b = tcga_table(tmp_path / "b" / "same.csv", 2)
    assert main(["study", "--cohorts", str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "both have the name 'same'" in err[0]
    assert not (tmp_path / "out").exists()


def test_study_toml_lists_cohorts_with_import_options(tmp_path: Path) -> None:
    import tomllib

    (tmp_path / "t.csv").write_text("x")
    (tmp_path / "clin.csv").write_text("x")
    text = """
cohorts = ["breast-cancer", {source = "t.csv", name = "T", clinical = "clin.csv", drop_incomplete = true, \
covariates_as_modality = "clinical", modality_suffix = {rnaseq = "expr"}}]
"""
    specs = cohorts_from_toml(tomllib.loads(text)["cohorts"], "study.toml", tmp_path)
    assert specs[0].source == "breast-cancer" and not specs[0].is_table
    t = specs[1]
    assert t.is_table and t.source == str(tmp_path / "t.csv") and t.clinical == str(tmp_path / "clin.csv")
    assert t.name == "T" and t.drop_incomplete and t.covariates_as_modality == "clinical"
    assert dict(t.suffixes) == {"rnaseq": "expr"}
    with pytest.raises(intersurv.IntersurvError, match="unknown key 'format'"):
        cohorts_from_toml([{"source": "t.csv", "format": "csv"}], "study.toml", tmp_path)
    with pytest.raises(intersurv.IntersurvError, match="non-empty list"):
        cohorts_from_toml([], "study.toml", tmp_path)


def _results(delta: dict[str, dict[str, tuple[float, float, float, float]]], c: dict[str, float]) -> dict[str, Any]:
    """Minimal per-cohort results: comparisons[arch][ref] = (delta, low, high, p) with df 9."""
    return {"cohort": {"n_patients": 100, "n_events": 30},
            "architectures": {a: {"c_index": {"mean": m}} for a, m in c.items()},
            "comparisons": {a: {ref: {"ref_arch": ref, "delta_c": d, "ci": [lo, hi], "df": 9, "p_value": p}
                                for ref, (d, lo, hi, p) in refs.items()} for a, refs in delta.items()},
            "interaction_test": {"cohort": {"detected": False, "p_value": 0.4, "estimate": 0.0, "ci": [0.0, 0.1],
                                            "minimum_detectable": 0.3}},
            "verdict": ["v"]}


def test_summary_best_model_holm_and_pooling() -> None:
    evil = "<b>x</b>&"
    one = _results({"gated": {"late": (0.02, -0.01, 0.05, 0.2)}, evil: {"late": (0.01, 0.0, 0.02, 0.04)}},
                   {"late": 0.7, "gated": 0.75, evil: 0.72, "unimodal:rna": 0.9})
    two = _results({"gated": {"late": (-0.01, -0.05, 0.03, 0.6)}, evil: {"late": (0.03, -0.1, 0.16, 0.6)}},
                   {"late": 0.7, "gated": 0.69, evil: 0.71})
    study = study_summary({"A": ("cohorts/A", one), "B<i>": ("cohorts/B-i-", two)})
    assert [r["best"]["arch"] for r in study["cohorts"]] == ["gated", evil]  # unimodal models are not candidates
    table = study["comparisons"]["late"]
    family = [table[a][n]["p_value"] for a in ("gated", evil) for n in ("A", "B<i>")]
    assert [table[a][n]["p_adjusted"] for a in ("gated", evil) for n in ("A", "B<i>")] == pytest.approx(holm(family))
    assert study["cohorts"][0]["best"]["versus"]["late"]["p_adjusted"] == table["gated"]["A"]["p_adjusted"]
    se = [(0.05 - -0.01) / 2 / 2.2621571627409915, (0.03 - -0.05) / 2 / 2.2621571627409915]  # t_{0.975, 9}
    expected = random_effects([0.02, -0.01], np.square(se))
    assert study["pooled"]["late"]["gated"]["estimate"] == pytest.approx(expected["estimate"], abs=1e-12)
    html = render_study_html(study, "")
    assert evil not in html and "B<i>" not in html and "&lt;b&gt;x&lt;/b&gt;&amp;" in html


def test_pooling_needs_two_cohorts_with_an_interval() -> None:
    one = _results({"gated": {"late": (0.02, None, None, None)}}, {"gated": 0.7})
    two = _results({"gated": {"late": (0.01, -0.02, 0.04, 0.5)}}, {"gated": 0.7})
    pooled = study_summary({"A": ("a", one), "B": ("b", two)})["pooled"]["late"]["gated"]
    assert "estimate" not in pooled and pooled["left_out"] == ["A"] and "fewer than 2" in pooled["skipped"]


def test_a_difference_that_does_not_survive_holm_is_not_called_better() -> None:
    # each interval excludes 0 (unadjusted: better), but 4 comparisons at p 0.02-0.04 do not survive Holm
    # (smallest adjusted p = 4 x 0.02 = 0.08); alone in its family, p 0.01 -> 0.01 stays better
    one = _results({"gated": {"late": (0.05, 0.01, 0.09, 0.02)}, "early": {"late": (0.04, 0.005, 0.075, 0.03)}},
                   {"late": 0.7, "gated": 0.75, "early": 0.74})
    two = _results({"gated": {"late": (0.04, 0.002, 0.078, 0.04), "clinical": (0.1, 0.05, 0.15, 0.01)},
                    "early": {"late": (0.03, 0.001, 0.059, 0.04)}},
                   {"late": 0.7, "gated": 0.75, "early": 0.72})
    study = study_summary({"A": ("a", one), "B": ("b", two)})
    late = study["comparisons"]["late"]
    assert {late[a][n]["verdict"] for a in late for n in late[a]} == {"better"}
    assert min(late[a][n]["p_adjusted"] for a in late for n in late[a]) == pytest.approx(0.08)
    assert {late[a][n]["verdict_adjusted"] for a in late for n in late[a]} == {"not distinguishable"}
    assert study["comparisons"]["clinical"]["gated"]["B"]["verdict_adjusted"] == "better"
    sentence = cohort_sentence(study["cohorts"][1])
    assert "vs late fusion" in sentence and "better by its own interval, not distinguishable after Holm" in sentence
    assert "clinical reference \u0394C +0.100 [+0.050, +0.150] (Holm p 0.01): better;" in sentence
    # the interaction test reads as in the audit's answer block
    assert sentence.endswith("; cohort interaction not detected: p = 0.4; InterSHAP estimate 0.0 % [0.0 %, 10.0 %]; "
                             "minimum detectable (80 % power) 30.0 %.")
