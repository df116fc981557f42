"""Experiments (arch x seed x fold): resume after a kill, no test data in model selection
or standardisation, --jobs invariance, the per-unit step, the run directory API and
`intersurv train`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.bags import BagSet
from intersurv.cli import main
from intersurv.cli.train import parse_seeds
from intersurv.cohort import Cohort
from intersurv.errors import IntersurvError
from intersurv.training.experiment import UnitContext, run_experiment
from intersurv.training.rundir import ExperimentConfig, ProtocolConfig, RunDir, cohort_fingerprint
from intersurv.training.settings import TrainSettings
from intersurv.training.splits import holdout_split, kfold_splits

TRAIN = {"max_epochs": 4, "patience": 2}
BASE = ["train", "--cohort", "breast-cancer", "--arch", "late,early", "--seeds", "3", "--holdout", "0.25",
        "--max-epochs", "4", "--patience", "2"]


def snapshot(run: Path) -> dict[str, Any]:
    """Every file of every unit (bytes), result.json without its timing."""
    out: dict[str, Any] = {}
    for unit in sorted((run / "units").iterdir()):
        for f in sorted(unit.iterdir()):
            if f.name == "result.json":
                res = json.loads(f.read_text())
                res.pop("seconds")
                out[f"{unit.name}/{f.name}"] = res
            else:
                out[f"{unit.name}/{f.name}"] = f.read_bytes()
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "full"
    assert main([*BASE, "--out", str(run)]) == 0
    return run


def test_killed_run_resumes_to_identical_results(uninterrupted: Path, tmp_path: Path) -> None:
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "intersurv", "-q", *BASE, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(run.glob("units/*/result.json")):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no unit finished in 120 s"
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    units = [u for u in RunDir(run).units()]
    unfinished = [u for u in units if not u.done]
    assert unfinished, "the run finished before it was killed: the test proves nothing"
    # An interrupted unit leaves files behind: they must not survive the restart.
    for u in unfinished:
        u.path.mkdir(parents=True, exist_ok=True)
        (u.path / "stale.txt").write_text("left by a killed run")
        (u.path / "predictions.csv").write_text("garbage")

    assert main([*BASE, "--out", str(run)]) == 0
    assert not list(run.glob("units/*/stale.txt"))
    assert snapshot(run) == snapshot(uninterrupted)


def test_rerunning_a_finished_run_changes_nothing(uninterrupted: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}
    assert main([*BASE, "--out", str(uninterrupted)]) == 0
    assert main(["train", "--out", str(uninterrupted)]) == 0  # resumes from config.json alone
    assert {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()} == before


def test_a_different_config_is_refused(uninterrupted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a if a != "3" else "2" for a in BASE]  # --seeds 2
    assert main([*argv, "--out", str(uninterrupted), "--lr", "0.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "seeds" in err and "train.lr" in err


def test_a_run_from_before_a_bag_setting_resumes_without_bags_only(uninterrupted: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(uninterrupted, old)
    cfg = json.loads((old / "config.json").read_text())
    del cfg["experiment"]["train"]["bag_weight_decay"]  # as written by a version without that setting
    (old / "config.json").write_text(json.dumps(cfg))
    before = snapshot(old)
    assert main([*BASE, "--out", str(old)]) == 0  # breast-cancer has no bags: the setting changes nothing
    assert snapshot(old) == before
    config = RunDir(old).config
    bags = Cohort(ids=["p0", "p1"], time=[1.0, 2.0], event=[1, 0], modalities={"x": np.zeros((2, 1))},
                  bags={"wsi": BagSet.from_arrays([np.zeros((2, 3), np.float32)] * 2)})
    with pytest.raises(IntersurvError, match="bag_weight_decay"):
        RunDir.create(old, config, bags)  # with bags it could change every unit


def test_split_ids_never_mix_test_patients(uninterrupted: Path) -> None:
    run = RunDir(uninterrupted)
    cohort = run.load_cohort()
    assert cohort_fingerprint(cohort) == cohort_fingerprint(intersurv.load_cohort("breast-cancer"))
    units = run.finished_units()
    assert len(units) == 2 * 3
    for u in units:
        split = u.split
        train, val, test = set(split["train"]), set(split["val"]), set(split["test"])
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == set(cohort.ids)
        # the test set is the seed's stratified hold-out split, computed independently
        expected = holdout_split(cohort.event, 0.25, u.seed, cohort.group).test
        assert test == set(cohort.ids[expected])
        model = u.load_model()
        assert set(model.train_ids) == train and set(model.val_ids) == val
        rows = pd.Index(cohort.ids).get_indexer(split["train"])
        assert list(model.reference) == model.modalities
        for m in model.modalities:
            np.testing.assert_array_equal(model.reference[m], cohort.modalities[m][rows])
        # the checkpoint reproduces the recorded test predictions
        pred = pd.read_csv(u.path / "predictions.csv")
        assert list(pred["patient_id"]) == split["test"]
        x = {m: a[pd.Index(cohort.ids).get_indexer(split["test"])] for m, a in cohort.modalities.items()}
        np.testing.assert_allclose(model.predict_log_risk(x), pred["log_risk"], rtol=0, atol=1e-12)
        assert u.result["n_test"] == len(test) and u.result["arch"] == u.arch
    # the same seed gives every architecture the same split
    by_seed: dict[int, set[str]] = {}
    for u in units:
        assert by_seed.setdefault(u.seed, set(u.split["test"])) == set(u.split["test"])


def _cohort(n: int = 96, seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 5)), rng.normal(size=(n, 3))
    risk = a[:, 0] + b[:, 0]
    time_ = rng.exponential(np.exp(-risk)) * 10 + 0.1
    return Cohort(ids=np.array([f"p{i:03d}" for i in range(n)]), time=time_,
                  event=(rng.random(n) < 0.7).astype(int), modalities={"a": a, "b": b},
                  group=rng.choice(["x", "y"], n), name="toy")


def test_test_fold_data_do_not_reach_fitting(tmp_path: Path) -> None:
    """Scrambling the test patients' features and times (events kept, so the split is the
    same) leaves every fitted model byte-identical: the test fold reaches neither
    standardisation nor early stopping nor the baseline."""
    import torch

    cohort = _cohort()
    config = ExperimentConfig(cohort="", architectures=("late",), seeds=(0,),
                              protocol=ProtocolConfig(kind="cv", folds=3), train=TRAIN, threads=2)
    threads = torch.get_num_threads()
    units = run_experiment(config, tmp_path / "clean", cohort=cohort)
    assert torch.get_num_threads() == threads  # a unit's thread count is restored afterwards
    tests = [pd.Index(cohort.ids).get_indexer(u.split["test"]) for u in units]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(cohort.n_patients))
    for u, t in zip(units, tests):
        np.testing.assert_array_equal(np.sort(t), kfold_splits(cohort.event, 3, 0, cohort.group)[u.fold].test)
        rng = np.random.default_rng(u.fold)
        mods = {m: x.copy() for m, x in cohort.modalities.items()}
        for x in mods.values():
            x[t] = rng.normal(50.0, 30.0, size=(len(t), x.shape[1]))
        tt = cohort.time.copy()
        tt[t] = rng.uniform(0.1, 500.0, size=len(t))
        scrambled = Cohort(ids=cohort.ids, time=tt, event=cohort.event, modalities=mods, group=cohort.group,
                           name="toy")
        other = run_experiment(config, tmp_path / f"scrambled{u.fold}", cohort=scrambled)
        v = next(o for o in other if o.name == u.name)
        for f in u.path.iterdir():
            if f.name.startswith("model."):
                assert f.read_bytes() == (v.path / f.name).read_bytes(), f.name
        assert v.split == u.split
    # and the scrambled features do reach the test predictions (the check has teeth)
    assert (pd.read_csv(units[0].path / "predictions.csv")["log_risk"]
            != pd.read_csv(tmp_path / "scrambled0" / "units" / units[0].name / "predictions.csv")["log_risk"]).any()


def record_step(ctx: UnitContext) -> dict[str, Any]:
    """A per-unit step as the audit would write one (module level: it must pickle)."""
    test_ids = ctx.test.ids
    assert not set(test_ids) & set(ctx.model.train_ids)
    (ctx.path / "step.txt").write_text(f"{ctx.name} {len(test_ids)} {ctx.config.extra['tag']}")
    return {"step": {"n_reference": int(next(iter(ctx.model.reference.values())).shape[0]),
                     "mean_test_log_risk": float(np.mean(ctx.test_log_risk))}}


def reserved_step(ctx: UnitContext) -> dict[str, Any]:
    return {"metrics": {}}


def test_jobs_2_equals_jobs_1_with_a_unit_step(tmp_path: Path) -> None:
    cohort = _cohort()
    config = ExperimentConfig(cohort="", architectures=("late", "unimodal:a"), seeds=(0, 1),
                              train=TRAIN, extra={"tag": "audit-v1"})
    serial = run_experiment(config, tmp_path / "j1", cohort=cohort, jobs=1, unit_step=record_step)
    parallel = run_experiment(config, tmp_path / "j2", cohort=cohort, jobs=2, unit_step=record_step)
    assert [u.name for u in serial] == [u.name for u in parallel]
    assert snapshot(tmp_path / "j1") == snapshot(tmp_path / "j2")
    for u in serial:
        assert u.result["step"]["n_reference"] == len(u.split["train"])
        assert (u.path / "step.txt").read_text().endswith("audit-v1")
    assert RunDir(tmp_path / "j1").config.unit_step == "test_experiment:record_step"
    # the cohort was given in memory: it is stored in the run directory and re-loads
    stored = RunDir(tmp_path / "j2").load_cohort()
    np.testing.assert_array_equal(stored.ids, cohort.ids)
    np.testing.assert_allclose(stored.time, cohort.time, rtol=1e-15)
    for m in cohort.modality_names:
        np.testing.assert_array_equal(stored.modalities[m], cohort.modalities[m])
    with pytest.raises(IntersurvError, match="cohort_sha256"):
        run_experiment(config, tmp_path / "j1", cohort=_cohort(seed=1), unit_step=record_step)
    # the step belongs to the configuration
    with pytest.raises(IntersurvError, match="unit step"):
        run_experiment(RunDir(tmp_path / "j1").config, tmp_path / "j1", cohort=cohort)
    with pytest.raises(IntersurvError, match="unit_step"):
        run_experiment(config, tmp_path / "j1", cohort=cohort, unit_step=reserved_step)
    with pytest.raises(ValueError, match="reserved result key 'metrics'"):
        run_experiment(config, tmp_path / "j3", cohort=cohort, unit_step=reserved_step)


def test_train_prints_a_labelled_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort_dir = tmp_path / "toy"
    from intersurv.io.cohort_dir import write_cohort_dir

    write_cohort_dir(_cohort(), cohort_dir)
    assert main(["train", "--cohort", str(cohort_dir), "--arch", "unimodal,late", "--seeds", "0,3",
                 "--folds", "2", "--max-epochs", "3", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "unimodal:a" in out and "unimodal:b" in out and "late" in out
    assert "mean ± sd across seeds x folds (2-fold CV, seeds 0, 3" in out
    run = RunDir(tmp_path / "run")
    assert run.config.cohort == str(cohort_dir.resolve())
    assert sorted(u.name for u in run.finished_units()) == sorted(
        f"{a}_s{s}_f{f}" for a in ("unimodal-a", "unimodal-b", "late") for s in (0, 3) for f in (0, 1))
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["versions"]["torch"] and cfg["experiment"]["train"]["max_epochs"] == 3


def test_train_reads_a_toml_config_that_options_override(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from intersurv.io.cohort_dir import write_cohort_dir

    write_cohort_dir(_cohort(), tmp_path / "toy")
    cfg = tmp_path / "exp.toml"
    cfg.write_text(f"""cohort = "{tmp_path / 'toy'}"
architectures = ["late"]
seeds = [1]
[protocol]
kind = "cv"
folds = 2
[train]
max_epochs = 2
patience = 1
""")
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--holdout", "0.3", "--param", "hidden=8", "--out", str(run)]) == 0
    config = RunDir(run).config
    assert config.protocol.kind == "holdout" and config.protocol.test_fraction == 0.3
    assert config.seeds == (1,) and config.train == TrainSettings(max_epochs=2, patience=1, hyper={"hidden": 8})
    assert [u.name for u in RunDir(run).finished_units()] == ["late_s1_f0"]
    cfg.write_text(cfg.read_text() + "[explain]\nmasker = 'mean'\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run2")]) == 2
    assert f"{cfg}: unknown key 'explain'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--cohort", "no-such-cohort", "--arch", "late"], "not a cohort directory"),
    (["--cohort", "breast-cancer", "--arch", "late", "--seeds", "x"], "--seeds 'x'"),
    (["--cohort", "breast-cancer", "--arch", "late,late"], "listed twice"),
    (["--cohort", "breast-cancer", "--arch", "late", "--holdout", "1.5"], "test_fraction"),
    (["--cohort", "breast-cancer"], "--arch is required"),
])
def test_train_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                           message: str) -> None:
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_parse_seeds() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,7") == [0, 5, 7]
    assert parse_seeds("7,") == [7]


def offset_or_fail(shared: int, task: int) -> int:
    if task == 3:
        raise IntersurvError(f"task {task} failed")
    return shared + task


def test_serial_executor_maps_in_order_and_stops_on_the_first_error() -> None:
    from intersurv.training.executors import SerialExecutor

    started: list[int] = []
    done: dict[int, int] = {}
    ex = SerialExecutor()
    out = ex.map(offset_or_fail, [5, 0, 2], 100, on_start=started.append,
                 on_done=lambda t, r: done.__setitem__(t, r))
    assert out == [105, 100, 102] and started == [5, 0, 2] and done == {5: 105, 0: 100, 2: 102}
    started.clear()
    with pytest.raises(IntersurvError, match="task 3 failed"):
        ex.map(offset_or_fail, [0, 3, 4], 0, on_start=started.append)
    assert started == [0, 3]


def test_process_pool_returns_in_task_order_and_reraises_user_errors() -> None:
    from intersurv.training.executors import ProcessPoolExecutor

    assert ProcessPoolExecutor(2).map(offset_or_fail, [5, 0, 2, 4, 1], 100) == [105, 100, 102, 104, 101]
    done: dict[int, int] = {}
    with pytest.raises(IntersurvError, match="task 3 failed"):
        ProcessPoolExecutor(2).map(offset_or_fail, [5, 0, 3, 2, 1], 100,
                                   on_done=lambda t, r: done.__setitem__(t, r))
    assert all(done[t] == 100 + t for t in done) and 3 not in done
