"""Gated fusion: sigmoid gates conditioned on all modalities.

Each modality is encoded, e_m = MLP_m(x_m) in R^k, and e = [e_1, ..., e_M].
One gate per embedding coordinate is computed from all modalities,

    g = sigmoid(W e + b)  in (0, 1)^{Mk},     h(x) = w · (g ⊙ e) + c,

so each modality's contribution is scaled by what the other modalities say
(cross-modal interaction enters only through the gates). Needs M >= 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .encoders import ModalityEncoders


class GatedFusion(nn.Module):
    """Per-modality encoders, gates from the joint embedding, linear head."""

    def __init__(self, widths: dict[str, int], *, hidden: Sequence[int] = (32,), dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.encoders = ModalityEncoders(widths, hidden, dropout)
        joint = len(widths) * self.encoders.dim
        self.gates = nn.Linear(joint, joint)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(joint, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        e = torch.cat(self.encoders(x), dim=1)
        gated = torch.sigmoid(self.gates(e)) * e
        return self.head(self.dropout(gated)).squeeze(-1)
