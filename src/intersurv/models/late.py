"""Late fusion: one log-risk network per modality, summed.

h(x) = sum_m h_m(x_m), each h_m an MLP with hidden widths ``hidden`` and a
linear output. The model is additive by construction: every mixed difference
h(x_1, x_2) - h(x_1, z_2) - h(z_1, x_2) + h(z_1, z_2) is zero, so its
cross-modal interaction is zero under any masker.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .encoders import mlp


class LateFusion(nn.Module):
    """Sum of per-modality MLP log-risks."""

    def __init__(self, widths: dict[str, int], *, hidden: Sequence[int] = (32,), dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.nets = nn.ModuleList(mlp(d, hidden, dropout, out_dim=1) for d in widths.values())

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [net(x[m]).squeeze(-1) for m, net in zip(self.modalities, self.nets)]
        return torch.stack(parts, dim=0).sum(dim=0)
