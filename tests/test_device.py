"""--device: auto falls back to the CPU without a GPU (same numbers as cpu); cuda without CUDA is a
one-line error from fit, fit_batched and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intersurv.cli import main
from intersurv.errors import IntersurvError
from intersurv.training import fit
from intersurv.training.batched import fit_batched
from intersurv.training.device import resolve_device

from test_fit import toy_cohort

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the machine without CUDA")


def test_auto_and_cpu_give_the_same_model() -> None:
    c = toy_cohort(n=60)
    a = fit(c, "gated", 0, max_epochs=3, hidden=4, device="cpu")
    b = fit(c, "gated", 0, max_epochs=3, hidden=4)  # auto
    if not torch.cuda.is_available():
        assert np.array_equal(a.predict_log_risk(c.X), b.predict_log_risk(c.X))
    assert resolve_device("cpu") == torch.device("cpu")


@no_cuda
def test_cuda_without_cuda_is_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    c = toy_cohort(n=40)
    for call in (lambda: fit(c, "late", 0, device="cuda"), lambda: fit_batched(c, "late", [0, 1], device="cuda:1")):
        with pytest.raises(IntersurvError, match="CUDA is not available") as err:
            call()
        assert "\n" not in str(err.value)
    assert resolve_device("auto") == torch.device("cpu")
    argv = ["train", "--cohort", "breast-cancer", "--arch", "late", "--seeds", "1", "--max-epochs", "1",
            "--device", "cuda", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "CUDA is not available" in err
    assert not (tmp_path / "run").exists()


def test_unknown_device() -> None:
    with pytest.raises(IntersurvError, match="device must be one of auto, cpu, cuda"):
        resolve_device("tpu")
