"""Early fusion: concatenate the modalities, then one MLP.

h(x) = MLP([x_1, ..., x_M]) with hidden widths ``hidden`` and a linear output.
With a single modality this is the unimodal baseline ``unimodal:<m>``. The
glioma study's early-fusion network (4096 -> 2048 -> 200 -> 1) is
``hidden=(2048, 200)`` on two 2048-d modalities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .encoders import mlp


class EarlyFusion(nn.Module):
    """MLP over the concatenated modalities (in the order of ``widths``)."""

    def __init__(self, widths: dict[str, int], *, hidden: Sequence[int] = (32,), dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.net = mlp(sum(widths.values()), hidden, dropout, out_dim=1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(torch.cat([x[m] for m in self.modalities], dim=1)).squeeze(-1)
