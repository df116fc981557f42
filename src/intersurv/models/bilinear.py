"""Low-rank bilinear fusion with main-effect branches.

Each modality is encoded, e_m = MLP_m(x_m) in R^k (k = last hidden width). For
every pair of modalities i < j a low-rank bilinear term is formed,
b_ij = (U_ij e_i + u_ij) ⊙ (V_ij e_j + v_ij) in R^rank, and

    h(x) = w_main · [e_1, ..., e_M] + w_int · [b_12, b_13, ..., b_(M-1)M] + c.

The first term is the sum of the per-modality main-effect branches (additive);
cross-modal interaction enters only through the pairwise products. For M = 2
this is the usual low-rank bilinear pooling (rank 64 in the glioma study) plus
unimodal branches; for M > 2 it keeps every pairwise interaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
from torch import nn

from .encoders import ModalityEncoders


class BilinearFusion(nn.Module):
    """Main-effect branches + pairwise low-rank bilinear interactions."""

    def __init__(self, widths: dict[str, int], *, hidden: Sequence[int] = (32,), rank: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.encoders = ModalityEncoders(widths, hidden, dropout)
        k = self.encoders.dim
        self.pairs = list(combinations(range(len(widths)), 2))
        self.left = nn.ModuleList(nn.Linear(k, rank) for _ in self.pairs)
        self.right = nn.ModuleList(nn.Linear(k, rank) for _ in self.pairs)
        self.dropout = nn.Dropout(dropout)
        self.main = nn.Linear(len(widths) * k, 1)
        self.interaction = nn.Linear(len(self.pairs) * rank, 1, bias=False)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.encoders(x)
        products = [u(e[i]) * v(e[j]) for (i, j), u, v in zip(self.pairs, self.left, self.right)]
        main = self.main(self.dropout(torch.cat(e, dim=1)))
        inter = self.interaction(self.dropout(torch.cat(products, dim=1)))
        return (main + inter).squeeze(-1)
