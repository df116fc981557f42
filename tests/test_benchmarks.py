"""Smoke test of benchmarks/run_all.py at toy sizes: its code paths run and compute the same game.

No timing assertions: the figures of ``make bench`` are not tested here.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_all.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("intersurv_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def args(bench, tmp_path):
    return bench.parse(["--quick", "--skip-demo", "--out", str(tmp_path / "results.md")])


def test_engine_loop_and_floor_agree(bench, args):
    rows, checks = bench.engine_vs_baselines(args)
    assert [(r[0], r[1]) for r in rows] == [("mean", 2), ("marginal", 2), ("mean", 3), ("mean", 4)]
    # the engine and the study's loop evaluate the same coalition game (float32 model)
    assert max(checks.values()) < 1e-5
    assert all(r[4] > 0 and r[5] > 0 and r[6] > 0 for r in rows)


def test_shapiq_matches_engine(bench, args):
    (row,) = bench.shapiq_comparison(args)
    assert row[5] < 1e-5 and row[6] < 1e-5


def test_engine_batches_count_the_engine_rows(bench):
    # N + (2^M - 2) N K + K rows for a shared background (coalitions module docstring)
    for n, m, k in [(575, 2, 1), (575, 3, 100), (10, 4, 7)]:
        assert sum(bench.engine_batches(n, m, k)) == n + (2**m - 2) * n * k + k


def test_loop_is_the_per_patient_game(bench):
    X = bench.cohort_arrays(3, [2, 3])
    model = bench.LogRisk(bench.mlp(5, (4,)), list(X))
    bg = bench.background_rows(X, "mean", 1, 0)
    values = bench.loop_values(model, X, bg, 3)
    # v(full) = f(x); v(empty) = f(mean row); v({m0}) = f(x_m0, mean_m1)
    assert np.allclose(values[:, 3], model(X), atol=1e-6)
    mean_row = {m: np.repeat(v, 3, axis=0) for m, v in bg.items()}
    assert np.allclose(values[:, 0], model(mean_row), atol=1e-6)
    assert np.allclose(values[:, 1], model({"m0": X["m0"], "m1": mean_row["m1"]}), atol=1e-6)


def test_scaling_point_reports_memory(bench):
    p = bench.scaling_child(50, 2, 8, (4,), 1)
    assert p["time"] > 0 and p["peak"] >= p["rss_inputs"] > 0


def test_results_file_written(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "training", lambda args: [["early", 0.1, 0.2]])
    import batched_training
    monkeypatch.setattr(batched_training, "batched_rows", lambda *a: [["gated", "8 + 8", 3] + [1.0] * 6 + ["3/3"]])
    import study  # benchmarks/study.py: three audits even at toy size; its timing is not what is tested here
    monkeypatch.setattr(study, "cohorts_section", lambda quick, tcga: f"study / (A + B) quick={quick}")
    import groups  # benchmarks/groups.py: test_group_benchmark_runs_at_toy_size runs it
    monkeypatch.setattr(groups, "group_rows", lambda quick: [["mean", 8, 10, 1, 256, 0.2, 0.1, 2.0, 0.1, 2.0]])
    out = tmp_path / "results.md"
    assert bench.main(["--quick", "--skip-demo", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Machine" in text and "loop/engine" in text and "shapiq/engine" in text and "early" in text
    assert "6. Batched training" in text and "batched / floor" in text
    assert "9. A study over several cohorts" in text and "study / (A + B) quick=True" in text
    assert "8. Feature groups" in text


def test_batched_benchmark_row(bench):
    """Section 6 at toy size: one by one and batched agree on every best epoch; the floor is timed."""
    import batched_training
    from intersurv import simulate

    cohort = simulate("glioma", n=100, seed=0, wsi_dim=12, rna_genes=10)
    row = batched_training.compare(cohort, "gated", 3, 4, max_epochs=4)
    assert row[:3] == ["gated", "4 + 4", 3] and row[-1] == "3/3"
    assert all(v > 0 for v in row[4:7])


def test_group_benchmark_runs_at_toy_size(bench):
    import sys

    sys.path.insert(0, str(SCRIPT.parent))
    from groups import eight_groups, group_rows

    groups = eight_groups([5, 6, 7])
    columns = [c for cols in groups.values() for c in cols]
    assert len(groups) == 8 and len(columns) == len(set(columns)) == 18  # a partition: no ':rest' player
    rows = group_rows(quick=True)
    assert [(r[0], r[1]) for r in rows] == [("mean", 8), ("marginal", 8)]
    assert all(r[5] > 0 and r[6] > 0 for r in rows)


def test_bags_benchmark_phases_run_at_toy_size(tmp_path):
    spec = importlib.util.spec_from_file_location("intersurv_bags_bench", SCRIPT.parent / "bags.py")
    bags_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bags_bench)
    work = str(tmp_path)
    assert bags_bench.phase_simulate(work, "24", "10", "30", "8")["seconds"] > 0
    assert bags_bench.phase_write_h5(work)["note"] == "24 files"
    from_h5, from_dir = bags_bench.phase_read_h5(work), bags_bench.phase_read_bag_dir(work)
    # the same patches read both ways: "... full pass 0.0 s (<patches>, <range> per patient, <GiB>)"
    assert from_h5["note"].rsplit("s (", 1)[1] == from_dir["note"].rsplit("s (", 1)[1]
