"""Where a network runs: ``device`` = ``"auto"`` (CUDA when torch sees a GPU, else the CPU),
``"cpu"`` or ``"cuda"`` (``"cuda:N"`` for GPU N).

Training on the CPU gives the same numbers as before devices existed; on a GPU
the numbers agree to float32 rounding (other kernels, and dropout draws from
the GPU's generator), not bit for bit.
"""

from __future__ import annotations

import torch

from ..errors import IntersurvError
from .settings import check_device


def resolve_device(device: str) -> torch.device:
    """The torch device for ``device``; a one-line IntersurvError for an unknown or unavailable one."""
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise IntersurvError(f"device {device!r}: CUDA is not available (torch {torch.__version__}, "
                                 "no GPU or a CPU-only build); use --device cpu or auto")
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise IntersurvError(f"device {device!r} is not a valid CUDA device") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise IntersurvError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) visible")
        return dev
    return torch.device("cpu")
