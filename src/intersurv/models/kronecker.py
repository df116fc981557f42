"""Kronecker (tensor) fusion, PathomicFusion style.

Each modality is encoded and reduced to a small vector,
r_m = ReLU(L_m MLP_m(x_m)) in R^q (q = ``kron_dim``), a 1 is appended,
z_m = [r_m, 1], and the outer product of all of them is flattened:

    t = vec(z_1 ⊗ z_2 ⊗ ... ⊗ z_M)  in R^{(q+1)^M},     h(x) = MLP(t).

Because of the appended 1, t contains every r_m on its own (unimodal terms) as
well as all products across modalities (bimodal, trimodal, ...). The width
(q+1)^M grows geometrically with M; the default q = 8 gives 81 (M = 2) and
729 (M = 3). Needs M >= 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .encoders import ModalityEncoders, mlp


class KroneckerFusion(nn.Module):
    """Outer product of the reduced modality embeddings (each with a 1 appended), then MLP."""

    def __init__(self, widths: dict[str, int], *, hidden: Sequence[int] = (32,), kron_dim: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.encoders = ModalityEncoders(widths, hidden, dropout)
        self.reduce = nn.ModuleList(nn.Linear(self.encoders.dim, kron_dim) for _ in widths)
        self.head = mlp((kron_dim + 1) ** len(widths), hidden, dropout, out_dim=1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        fused = None
        for e, reduce in zip(self.encoders(x), self.reduce):
            r = torch.relu(reduce(e))
            z = torch.cat([r, torch.ones_like(r[:, :1])], dim=1)
            fused = z if fused is None else (fused.unsqueeze(2) * z.unsqueeze(1)).flatten(1)
        return self.head(fused).squeeze(-1)
