"""Cross-attention fusion over several tokens per modality.

Each modality's feature vector x_m in R^{d_m} is cut into T_m = min(tokens, d_m)
contiguous chunks of c_m = ceil(d_m / T_m) features (the last chunk zero-padded),
and chunk t is projected by its own affine map to a token u_{m,t} in R^{dim}.
With several tokens per modality the attention weights are a real softmax over
keys, not the degenerate one-token softmax (which is identically 1).

Modality m then attends to the tokens of all other modalities:

    a_m = MultiheadAttention(query = U_m, key = value = [U_j for j != m])
    p_m = mean_t LayerNorm(U_m + a_m)_t                    (N, dim)
    h(x) = MLP([p_1, ..., p_M])                            (hidden widths ``hidden``)

Needs M >= 2 modalities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .encoders import mlp


class ChunkTokenizer(nn.Module):
    """x (N, d) -> tokens (N, T, dim): chunk t of x through its own affine map."""

    def __init__(self, in_dim: int, tokens: int, dim: int) -> None:
        super().__init__()
        self.n_tokens = min(tokens, in_dim)
        self.chunk = math.ceil(in_dim / self.n_tokens)
        self.pad = self.n_tokens * self.chunk - in_dim
        bound = 1.0 / math.sqrt(self.chunk)  # nn.Linear's default initialisation range
        self.weight = nn.Parameter(torch.empty(self.n_tokens, self.chunk, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.n_tokens, dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = nn.functional.pad(x, (0, self.pad))
        chunks = x.reshape(x.shape[0], self.n_tokens, self.chunk)
        return torch.einsum("ntc,tcd->ntd", chunks, self.weight) + self.bias


class CrossAttentionFusion(nn.Module):
    """Each modality's tokens attend to the other modalities' tokens; pooled; MLP head."""

    def __init__(self, widths: dict[str, int], *, tokens: int = 8, dim: int = 32, heads: int = 4,
                 hidden: Sequence[int] = (32,), dropout: float = 0.1) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.tokenizers = nn.ModuleList(ChunkTokenizer(d, tokens, dim) for d in widths.values())
        self.attention = nn.ModuleList(
            nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) for _ in widths
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in widths)
        self.head = mlp(len(widths) * dim, hidden, dropout, out_dim=1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = [tok(x[m]) for m, tok in zip(self.modalities, self.tokenizers)]
        pooled = []
        for i, (attn, norm) in enumerate(zip(self.attention, self.norms)):
            others = torch.cat([t for j, t in enumerate(tokens) if j != i], dim=1)
            attended, _ = attn(tokens[i], others, others, need_weights=False)
            pooled.append(norm(tokens[i] + attended).mean(dim=1))
        return self.head(torch.cat(pooled, dim=1)).squeeze(-1)
