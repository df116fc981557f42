"""``--executor ray``: an audit on a local Ray instance equals the serial audit, and a run whose
driver is killed resumes to the same results. Skipped without Ray (the ``ray`` extra)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from intersurv.cli import main
from intersurv.errors import IntersurvError
from intersurv.training.executors import RayExecutor

from test_study import CONFIG, SRC, local_ray  # the tiny audit configuration; this checkout's src

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'intersurv[ray]')")



def audit_args(tmp: Path, out: Path) -> list[str]:
    toml = tmp / "audit.toml"
    toml.write_text(CONFIG)
    return ["audit", "--cohort", "breast-cancer", "--arch", "late,gated", "--seeds", "3", "--holdout", "0.25",
            "--config", str(toml), "--out", str(out)]


def unit_results(run: Path) -> dict[str, Any]:
    """Every unit's result.json without its timing, and the audit's results.json."""
    out: dict[str, Any] = {}
    for f in sorted(run.glob("units/*/result.json")):
        res = json.loads(f.read_text())
        res.pop("seconds")
        out[f.parent.name] = res
    results = json.loads((run / "results.json").read_text())
    out["architectures"] = results["architectures"]
    return out


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A local Ray instance of 2 CPUs; its workers import this checkout's intersurv."""
    with local_ray(ray) as address:
        yield address


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("serial")
    assert main([*audit_args(tmp, tmp / "run"), "--jobs", "1"]) == 0
    return unit_results(tmp / "run")


def test_audit_on_ray_equals_serial(cluster: str, serial: dict[str, Any], tmp_path: Path) -> None:
    assert main([*audit_args(tmp_path, tmp_path / "run"), "--executor", "ray"]) == 0
    assert unit_results(tmp_path / "run") == serial


def test_killed_driver_resumes_to_identical_results(cluster: str, serial: dict[str, Any], tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "intersurv", "-q", *audit_args(tmp_path, run),
                             "--executor", "ray", "--address", cluster],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 180
    while not list(run.glob("units/*/result.json")):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no unit finished in 180 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(run.glob("units/*/result.json")))
    assert done < 6, "the run finished before it was killed: the test proves nothing"
    time.sleep(2)  # Ray ends the dead driver's tasks
    assert main([*audit_args(tmp_path, run), "--executor", "ray"]) == 0
    assert unit_results(run) == serial


def test_failure_stops_the_map_and_keeps_its_type(cluster: str) -> None:
    def fail_on_two(shared: int, task: int) -> int:
        if task == 2:
            raise IntersurvError(f"task {task} failed")
        return shared + task

    done: list[int] = []
    with pytest.raises(IntersurvError, match="task 2 failed"):
        RayExecutor().map(fail_on_two, [0, 1, 2, 3, 4, 5, 6], 10, on_done=lambda t, r: done.append(r))
    assert set(done) <= {10, 11, 13, 14, 15, 16}
    assert RayExecutor(cpus=1).map(fail_on_two, [0, 1, 3], 10) == [10, 11, 13]


def test_bad_address_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*audit_args(tmp_path, tmp_path / "run"), "--executor", "local", "--address", "auto"]) == 2
    assert "--address is for --executor ray" in capsys.readouterr().err
