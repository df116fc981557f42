"""One home per setting: ExplainSettings / TrainSettings, their single definition of each default,
the whole configuration checked before a run directory is written (issue 17 row 7), an audit's
interactions.csv kept safe from ``intersurv explain`` (row 1), derived seeds, cohort names and ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intersurv
from intersurv.cli import main
from intersurv.datasets import BUILTINS, resolve_cohort_source
from intersurv.errors import IntersurvError
from intersurv.interactions.settings import DEFAULT_EXPLAIN, ExplainSettings
from intersurv.io.cohort_dir import write_cohort_dir
from intersurv.positions import positions
from intersurv.seeds import derive_seed
from intersurv.training.config import ExperimentConfig
from intersurv.training.settings import DEFAULT_TRAIN, TrainSettings

SRC = Path(intersurv.__file__).parent
SETTINGS_MODULES = {SRC / "interactions" / "settings.py", SRC / "training" / "settings.py"}


# ------------------------------------------------------------------ one definition per default
def _literal(value) -> str:
    """A regex for ``value`` written as a Python literal (``1e-3`` and ``0.001`` alike)."""
    if isinstance(value, str):
        return rf"""["']{re.escape(value)}["']"""
    spelled = {repr(value), f"{value:g}", f"{value:.0e}".replace("e-0", "e-")}
    return f"(?:{'|'.join(re.escape(t) for t in spelled)})"


# Each setting's default value, under its names. ``ties`` is left out: the Cox loss
# (survival.loss) and the prognostic Cox fit keep Efron as their own default, a layer below.
DEFAULTS = {
    ("masker",): DEFAULT_EXPLAIN.masker,
    ("output",): DEFAULT_EXPLAIN.output,
    ("aggregation",): DEFAULT_EXPLAIN.aggregation,
    ("background", "k"): DEFAULT_EXPLAIN.background,
    ("time_points",): DEFAULT_EXPLAIN.time_points,
    **{(key,): value for key, value in DEFAULT_TRAIN.options().items() if key not in ("ties", "batch_size")},
}
DEFAULT_PATTERNS = []
for names, value in DEFAULTS.items():
    key, lit = "|".join(names), _literal(value)
    DEFAULT_PATTERNS += [
        # a parameter or field: ``masker: str = "mean"``, ``lr: float = 1e-3``
        re.compile(rf"\b(?:{key})\s*:\s*[\w\[\]| .]+=\s*{lit}(?![\w.])"),
        # a dict of defaults: ``"masker": "mean"``
        re.compile(rf"""["'](?:{key})["']\s*:\s*{lit}(?![\w.])"""),
        # a fallback: ``.get("val_fraction", 0.2)``
        re.compile(rf"""\.get\(\s*["'](?:{key})["']\s*,\s*{lit}"""),
    ]
# an argparse default equal to one of the explain defaults
DEFAULT_PATTERNS.append(re.compile(r"""default\s*=\s*(?:"(?:mean|log_risk|abs)"|100)(?![\w.])"""))


def _default_definitions(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [f"{path.relative_to(SRC)}: {m.group(0).strip()}" for p in DEFAULT_PATTERNS for m in p.finditer(text)]


def test_each_setting_default_is_defined_once_in_its_settings_module() -> None:
    found = [hit for path in sorted(SRC.rglob("*.py")) if path not in SETTINGS_MODULES
             for hit in _default_definitions(path)]
    assert found == []
    # the patterns do find the definitions where they belong
    home = [hit for path in SETTINGS_MODULES for hit in _default_definitions(path)]
    assert any('masker: str = "mean"' in h for h in home) and any("background: int = 100" in h for h in home)
    assert any("max_epochs: int = 1000" in h for h in home) and any('reduce: str | int = "none"' in h for h in home)


def test_library_and_cli_take_their_defaults_from_the_settings() -> None:
    import inspect

    from intersurv.interactions import explain, interaction_over_time

    for fn in (explain, interaction_over_time):
        sig = inspect.signature(fn).parameters
        assert sig["masker"].default == DEFAULT_EXPLAIN.masker
        assert sig["aggregation"].default == DEFAULT_EXPLAIN.aggregation
        assert sig["background"].default == DEFAULT_EXPLAIN.background
    fit_sig = inspect.signature(intersurv.fit).parameters
    for key, value in DEFAULT_TRAIN.options().items():
        assert fit_sig[key].default == value
    from intersurv.cli import build_parser

    args = build_parser().parse_args(["explain", "RUN"])
    assert (args.masker, args.output, args.aggregation, args.background, args.bootstrap) == (
        DEFAULT_EXPLAIN.masker, DEFAULT_EXPLAIN.output, DEFAULT_EXPLAIN.aggregation, DEFAULT_EXPLAIN.background,
        DEFAULT_EXPLAIN.bootstrap)


@pytest.mark.parametrize("bad, message", [
    ({"masker": "meen"}, "masker 'meen'"),
    ({"aggregation": "sum"}, "aggregation 'sum'"),
    ({"output": "hazard@3"}, "output 'hazard@3'"),
    ({"background": -1}, "background must be an integer >= 0"),
    ({"masker": "marginal", "background": 0}, "background must be >= 1"),
    ({"bootstrap": 1.5}, "bootstrap must be an integer"),
    ({"null_refits": True}, "null_refits must be an integer"),
])
def test_explain_settings_check_every_value(bad, message) -> None:
    with pytest.raises(IntersurvError, match=re.escape(message)):
        ExplainSettings(**bad)


def test_explain_settings_from_a_table_name_the_source_and_unknown_keys() -> None:
    assert ExplainSettings.from_dict({"masker": "zero"}) == ExplainSettings(masker="zero")
    with pytest.raises(IntersurvError, match=r"cfg.toml: \[explain\]: unknown key 'maskr'"):
        ExplainSettings.from_dict({"maskr": "mean"}, source="cfg.toml: [explain]")
    with pytest.raises(IntersurvError, match="swift2026' is defined for 2 modalities only"):
        ExplainSettings(aggregation="swift2026").check_modalities(3)


@pytest.mark.parametrize("bad, message", [
    ({"reduce": "atuo"}, "reduce must be 'auto', 'none' or a positive integer (got 'atuo')"),
    ({"lr": -1}, "lr must be a positive number (got -1)"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"max_epochs": 0}, "max_epochs must be a positive integer (got 0)"),
    ({"patience": 2.0}, "patience must be a positive integer"),
    ({"val_fraction": 1.0}, "val_fraction must be between 0 and 1"),
    ({"batch_size": 1}, "batch_size must be None (full batch) or an integer >= 2"),
    ({"ties": "exact"}, "ties must be one of efron, breslow"),
    ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
])
def test_train_settings_check_every_value(bad, message) -> None:
    with pytest.raises(IntersurvError, match=re.escape(message)):
        TrainSettings.from_dict(bad)


def test_train_settings_check_hyperparameters_per_architecture() -> None:
    settings = TrainSettings.from_dict({"max_epochs": 3, "hidden": [8], "rank": 2})
    assert settings.hyper == {"hidden": [8], "rank": 2} and settings.max_epochs == 3
    settings.check_architecture("bilinear")
    with pytest.raises(IntersurvError, match="'early' has no hyperparameter 'rank'"):
        settings.check_architecture("early")
    # the networks' hyperparameters do not apply to the linear references, whose names are still checked
    settings.check_architecture("linear:rna")
    settings.check_architecture("clinical")
    with pytest.raises(IntersurvError, match="unknown architecture 'linear'"):
        settings.check_architecture("linear")
    with pytest.raises(IntersurvError, match="unknown architecture 'foo'"):
        ExperimentConfig(cohort="x", architectures=("foo",), seeds=(0,))
    with pytest.raises(IntersurvError, match="has no hyperparameter 'foo'"):
        ExperimentConfig(cohort="x", architectures=("late",), seeds=(0,), train={"foo": 1})


def test_config_records_every_training_setting_with_its_default() -> None:
    config = ExperimentConfig(cohort="x", architectures=("late",), seeds=(0,), train={"max_epochs": 3, "hidden": 8})
    recorded = config.to_dict()["train"]
    assert recorded == {**DEFAULT_TRAIN.options(), "max_epochs": 3, "hidden": 8}
    assert ExperimentConfig.from_dict(config.to_dict()) == config


# ------------------------------------------------------------------ row 7: checked before writing
def _toy_cohort_dir(path: Path, n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = {"wsi": rng.normal(size=(n, 3)), "rna": rng.normal(size=(n, 2))}
    time = rng.exponential(10.0, size=n) + 0.1
    event = (rng.uniform(size=n) < 0.6).astype(int)
    event[:2] = 1
    write_cohort_dir(intersurv.Cohort(ids=[f"P{i}" for i in range(n)], time=time, event=event, modalities=X), path)
    return path


AUDIT_OK = ["--arch", "late", "--seeds", "1", "--max-epochs", "2", "--null-refits", "0"]


@pytest.mark.parametrize("bad", [
    ["--param", "reduce=atuo"],
    ["--arch", "foo"],
    ["--arch", "unimodal:ct"],
    ["--param", "lr=-1"],
    ["--param", "foo=1"],
    ["--jobs", "0"],
    ["--max-epochs", "0"],
    ["--folds", "100"],
    ["--masker", "meen"],
], ids=lambda a: " ".join(a))
def test_a_bad_audit_option_writes_nothing(tmp_path, capsys, bad) -> None:
    cohort = _toy_cohort_dir(tmp_path / "cohort")
    out = tmp_path / "run"
    assert main(["audit", "--cohort", str(cohort), "--out", str(out), *AUDIT_OK, *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("intersurv: error:") and "\n" not in err
    assert not out.exists()


def test_too_few_patients_writes_nothing(tmp_path, capsys) -> None:
    cohort = _toy_cohort_dir(tmp_path / "cohort", n=6)
    out = tmp_path / "run"
    assert main(["audit", "--cohort", str(cohort), "--out", str(out), *AUDIT_OK]) == 2
    assert capsys.readouterr().err.startswith("intersurv: error:")
    assert not out.exists()


def test_the_corrected_command_runs_in_the_same_out(tmp_path) -> None:
    cohort = _toy_cohort_dir(tmp_path / "cohort")
    out = tmp_path / "run"
    base = ["train", "--cohort", str(cohort), "--arch", "late", "--seeds", "1", "--max-epochs", "2",
            "--out", str(out)]
    assert main([*base, "--param", "reduce=atuo"]) == 2
    assert main([*base, "--folds", "100"]) == 2
    assert main([*base, "--param", "reduce=auto"]) == 0
    raw = json.loads((out / "config.json").read_text())
    assert raw["experiment"]["train"] == {**DEFAULT_TRAIN.options(), "max_epochs": 2, "reduce": "auto"}
    # a run made under another default of lr is not resumed as if it were this one
    raw["experiment"]["train"]["lr"] = 0.01
    (out / "config.json").write_text(json.dumps(raw))
    assert main([*base, "--param", "reduce=auto"]) == 2


def test_run_experiment_checks_the_in_memory_cohort_before_storing_it(tmp_path) -> None:
    from intersurv.training.experiment import run_experiment

    c = intersurv.simulate("additive", n=40, seed=0, wsi_dim=4, rna_genes=4)
    config = ExperimentConfig(cohort="", architectures=("unimodal:ct",), seeds=(0,))
    with pytest.raises(IntersurvError, match="no modality 'ct'"):
        run_experiment(config, tmp_path / "run", cohort=c)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ row 1: explain on an audit run
def test_explain_keeps_an_audit_runs_interactions_and_the_audit_resumes(tmp_path, capsys) -> None:
    cohort = _toy_cohort_dir(tmp_path / "cohort", n=80)
    run = tmp_path / "run"
    audit = ["audit", "--cohort", str(cohort), "--out", str(run), "--arch", "late,early", "--seeds", "1",
             "--max-epochs", "3", "--config", str(_small_audit_toml(tmp_path))]
    assert main(audit) == 0
    tables = sorted(run.glob("units/*/interactions.csv"))
    before = {p: p.read_bytes() for p in tables}
    results = json.loads((run / "results.json").read_text())

    assert main(["explain", str(run), "--bootstrap", "0"]) == 2
    assert "--out" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in tables} == before

    elsewhere = tmp_path / "explained"
    assert main(["explain", str(run), "--bootstrap", "0", "--masker", "zero", "--out", str(elsewhere)]) == 0
    assert {p: p.read_bytes() for p in tables} == before
    written = pd.read_csv(elsewhere / "units" / "early_s0_f0" / "interactions.csv")
    audit_table = pd.read_csv(run / "units" / "early_s0_f0" / "interactions.csv")
    assert list(written.columns) == list(audit_table.columns)  # one format for both writers
    assert any(c.startswith("v:") for c in written.columns)
    assert (elsewhere / "explain_summary.json").is_file()

    assert main(audit) == 0  # resumes: every unit is done, results rebuilt from the kept tables
    again = json.loads((run / "results.json").read_text())
    for arch in ("late", "early"):
        assert again["architectures"][arch]["intershap"] == results["architectures"][arch]["intershap"]


def _small_audit_toml(tmp_path: Path) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text("[explain]\nbootstrap = 5\ntime_points = 2\n[prognostic]\nbootstrap = 5\npermutations = 5\n")
    return path


def test_results_refuse_an_interactions_table_without_coalition_values(tmp_path) -> None:
    from intersurv.interactions.table import read_interactions

    pd.DataFrame({"patient_id": ["a"], "output": [0.1]}).to_csv(tmp_path / "interactions.csv", index=False)
    with pytest.raises(IntersurvError, match="has 0 coalition value columns"):
        read_interactions(tmp_path / "interactions.csv", 2)


# ------------------------------------------------------------------ seeds, cohort names, ids
def test_derived_seeds_are_reproducible_and_apart() -> None:
    assert derive_seed("explain", 0, 0) == derive_seed("explain", 0, 0)
    seeds = {derive_seed(p, s, f) for p in ("explain", "additive-null") for s in range(5) for f in range(3)}
    assert len(seeds) == 30 and all(0 <= s < 2**32 for s in seeds)
    expected = int(np.random.SeedSequence([__import__("zlib").crc32(b"explain"), 3, 1]).generate_state(1)[0])
    assert derive_seed("explain", 3, 1) == expected


def test_cohort_source_is_resolved_in_one_place(tmp_path, monkeypatch) -> None:
    name = next(iter(BUILTINS))
    monkeypatch.chdir(tmp_path)
    assert resolve_cohort_source(name) == name
    assert resolve_cohort_source("some/dir") == str(tmp_path / "some" / "dir")
    assert resolve_cohort_source("c", relative_to=tmp_path / "run") == str(tmp_path / "run" / "c")
    (tmp_path / name).mkdir()
    assert resolve_cohort_source(name) == str(tmp_path / name)  # an existing directory wins


def test_positions_of_patient_ids() -> None:
    ids = np.array(["a", "b", "c"])
    assert positions(ids, ["c", "a"]).tolist() == [2, 0]
    with pytest.raises(IntersurvError, match="split.json: test patient 'z' is not in the cohort"):
        positions(ids, ["a", "z"], what="split.json: test patient")
