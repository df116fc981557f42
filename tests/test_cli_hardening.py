"""Issue 17: commands a careless user can run, refused before anything is written or overwritten
(simulate into a cohort, --out inside the cohort, too few events), and log lines that say true
things once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.cli import main
from intersurv.errors import IntersurvError
from intersurv.training.experiment import run_experiment
from intersurv.training.rundir import ExperimentConfig, ProtocolConfig
from intersurv.training.splits import check_enough_events

from test_cohort import make_cohort_dir


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("intersurv: error: ")
    return lines[0]


# ----------------------------------------------------------------- row 8: simulate over a cohort

def test_simulate_refuses_a_non_empty_directory(tmp_path: Path, capsys) -> None:
    cohort = make_cohort_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in cohort.iterdir()}
    assert main(["simulate", "--n", "60", "--out", str(cohort)]) == 2
    err = one_line_error(capsys)
    assert "not empty" in err and "clinical.csv" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in cohort.iterdir()} == before
    assert main(["datasets", "export", "breast-cancer", str(cohort)]) == 2
    assert "not empty" in one_line_error(capsys)
    assert main(["simulate", "--n", "60", "--out", str(cohort), "--force"]) == 0
    assert intersurv.load_cohort(cohort).n_patients == 60


# ----------------------------------------------------------------- row 9: --out in the cohort

@pytest.mark.parametrize("command", ["audit", "train"])
@pytest.mark.parametrize("inside", [".", "runs/r1"])
def test_out_inside_the_cohort_directory_is_refused(tmp_path: Path, command: str, inside: str,
                                                    capsys) -> None:
    cohort = make_cohort_dir(tmp_path)
    out = cohort / inside
    assert main([command, "--cohort", str(cohort), "--arch", "early", "--out", str(out)]) == 2
    assert "must be outside the cohort directory" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "config.json").exists()
    assert intersurv.load_cohort(cohort).n_patients == 6


# ----------------------------------------------------------------- row 10: few events

@pytest.mark.parametrize("events", [2, 1])
@pytest.mark.parametrize("command", ["audit", "train"])
def test_too_few_events_is_said_truly_and_writes_nothing(tmp_path: Path, events: int, command: str,
                                                         capsys) -> None:
    (tmp_path / "c").mkdir()
    cohort = make_cohort_dir(tmp_path / "c")
    clin = pd.read_csv(cohort / "clinical.csv").head(5)
    clin["event"] = [1] * events + [0] * (5 - events)
    clin.to_csv(cohort / "clinical.csv", index=False)
    out = tmp_path / "run"
    assert main([command, "--cohort", str(cohort), "--arch", "early", "--seeds", "1", "--out", str(out),
                 "--max-epochs", "2"]) == 2
    err = one_line_error(capsys)
    assert f"too few events: {events} events in 5 patients, need at least 10" in err
    assert "no events" not in err and "horizons" not in err
    assert not out.exists()


def test_events_needed_follow_the_protocol() -> None:
    ten = np.r_[np.ones(10), np.zeros(30)]
    check_enough_events(ten, ProtocolConfig("holdout", test_fraction=0.2))
    check_enough_events(ten, ProtocolConfig("cv", folds=5))
    with pytest.raises(IntersurvError, match="need at least 12 for 6-fold cross-validation"):
        check_enough_events(ten, ProtocolConfig("cv", folds=6))
    with pytest.raises(IntersurvError, match="need at least 20 for a 0.1 hold-out"):
        check_enough_events(ten, ProtocolConfig("holdout", test_fraction=0.1))
    check_enough_events(np.ones(4), ProtocolConfig("holdout", test_fraction=0.5))  # 2 + 2 events: enough


def test_in_memory_cohort_with_too_few_events_writes_nothing(tmp_path: Path) -> None:
    c = intersurv.simulate("glioma", n=40, seed=0)
    few = intersurv.Cohort(ids=c.ids, time=c.time, event=np.r_[np.ones(3), np.zeros(37)], modalities=c.X)
    config = ExperimentConfig(cohort="", architectures=("early",), seeds=(0,),
                              protocol=ProtocolConfig(), train={"max_epochs": 2})
    with pytest.raises(IntersurvError, match="too few events: 3 events in 40 patients"):
        run_experiment(config, tmp_path / "run", cohort=few)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------- row 11: log lines

def test_dropped_horizon_logged_once_per_run_and_unconverged_training_warned(tmp_path: Path, capsys) -> None:
    # breast-cancer (days) has no test patient before 12 months: that horizon is dropped in every unit
    assert main(["train", "--cohort", "breast-cancer", "--arch", "early", "--seeds", "3", "--max-epochs", "1",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    dropped = [ln for ln in err.splitlines() if "horizon 12 months" in ln]
    assert len(dropped) == 1, err
    assert "best epoch is the last one (1 = max_epochs)" in err


def test_time_curve_of_units_with_missing_points_warns_not() -> None:
    import warnings
    from types import SimpleNamespace

    from intersurv.audit.results import _time_curve

    units = [SimpleNamespace(result={"time_curve": {"times": [1, 2], "intershap": v}})
             for v in ([0.1, None], [0.3, None])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = _time_curve(units)
    assert curve["intershap"][0] == pytest.approx(0.2) and np.isnan(curve["intershap"][1])
    assert curve["sd"][0] == pytest.approx(np.std([0.1, 0.3], ddof=1)) and np.isnan(curve["sd"][1])


# ----------------------------------------------------------------- row 13: help and README

def test_help_shows_the_defaults(capsys) -> None:
    for command, expected in (
        ("audit", ("default 5 (seeds 0-4)", "default 0.2", "default unimodal, linear, clinical, early, late", "(default 1;",
                   "default: 5-fold CV", "default 1000")),
        ("demo", ("default 3 (seeds 0-2)",)),
        ("train", ("default 3", "default 0.2", "default: hold-out", "default 1000", "default 20", "(default 1)")),
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for e in expected:
            assert e in text, (command, e)


def test_readme_cites_no_file_outside_the_repository_and_no_default_it_lacks() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme and "shared/" not in readme
    assert "[--jobs 2]" not in readme
