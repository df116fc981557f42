"""Gated-attention multiple-instance learning (ABMIL, Ilse, Tomczak & Welling 2018, ICML).

A patient's bag of K patch vectors x_1..x_K (in R^d) becomes one embedding:

* optional patch projection ``h_k = Dropout(ReLU(W x_k + b))`` in R^D (``dim``; without
  it ``h_k = x_k`` and D = d);
* gated attention over the patch vectors, with H heads (``heads``),

      a_kh = exp(s_kh) / sum_j exp(s_jh),      s_kh = w_h^T ( tanh(V h_k) * sigmoid(U h_k) ),

  with V, U in R^{L x D} (``attention`` = L) shared by the heads and w_h in R^L;
* the embedding ``e = [sum_k a_k1 h_k, ..., sum_k a_kH h_k]`` in R^{HD}, which is invariant
  to the order of the patches; with ``mean`` the bag's mean patch vector ``(1/K) sum_k h_k``
  is put beside it (``out_dim`` = (H + 1) D). The mean branch reads what the whole bag shows
  (e.g. its tissue mixture) and a second head can read a second kind of patch, so one
  attention head is free to single out the few patches that carry another signal instead
  of spreading its weight over the background to read the mixture (``docs/validation.md``,
  issue 21). A patch's reported weight ``a_k`` is the mean of its H head weights (it sums
  to 1 over the bag).

Bags of unequal size are batched as a padded ``(B, K_max, d)`` tensor with a boolean
``(B, K_max)`` mask (True = a real patch): padded patches get score -inf, so their
weight is exactly 0 and the embedding of a patient does not depend on the padding
or on the other patients of the batch.

:class:`MILNetwork` puts one encoder per bag modality in front of a fusion head
(any architecture of :mod:`.registry`, built with width ``out_dim`` for each bag modality).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def embedding_width(dim: int, heads: int, mean: bool) -> int:
    """Width of a bag's embedding: D per attention head, and D more with the bag-mean branch."""
    return (int(heads) + bool(mean)) * int(dim)


class GatedAttentionMIL(nn.Module):
    """Bag ``(B, K, d)`` + mask ``(B, K)`` -> embedding ``(B, out_dim)`` and attention ``(B, K)`` (module docstring)."""

    def __init__(self, in_dim: int, *, dim: int | None = 64, attention: int = 32, dropout: float = 0.1,
                 mean: bool = False, heads: int = 1) -> None:
        super().__init__()
        self.project = (nn.Sequential(nn.Linear(in_dim, dim), nn.ReLU(), nn.Dropout(dropout))
                        if dim is not None else nn.Identity())
        self.dim = int(dim if dim is not None else in_dim)
        self.mean = bool(mean)
        self.heads = int(heads)
        #: Width of the embedding (:func:`embedding_width`).
        self.out_dim = embedding_width(self.dim, self.heads, self.mean)
        self.V = nn.Linear(self.dim, attention)
        self.U = nn.Linear(self.dim, attention)
        self.w = nn.Linear(attention, self.heads)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """The attention scores s_kh ``(..., K, H)`` of projected patches ``h`` ``(..., K, D)``."""
        return self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.project(x)
        s = self.scores(h).masked_fill(~mask[..., None], float("-inf"))
        a = torch.softmax(s, dim=-2)  # (B, K, H): over the patches of each bag, per head
        # padded rows get a = 0 and are zeroed, so a non-finite padding value cannot turn 0 * inf into NaN
        h = torch.where(mask[..., None], h, torch.zeros((), dtype=h.dtype))
        parts = list(torch.einsum("bkh,bkd->hbd", a, h))
        if self.mean:
            parts.append(h.sum(dim=1) / mask.sum(dim=1, keepdim=True).to(h.dtype))
        return torch.cat(parts, dim=-1), a.mean(dim=-1)


class MILNetwork(nn.Module):
    """Attention-MIL encoders for the bag modalities followed by a fusion head.

    ``forward(x, bags)``: ``x`` maps the head's tabular modalities to ``(B, d_m)``
    tensors, ``bags`` maps each bag modality to ``(patches (B, K, p_m), mask (B, K))``;
    returns the ``(B,)`` log-risk. :meth:`head_forward` takes the bag modalities'
    embeddings instead of their bags (what the interaction engine explains).
    """

    def __init__(self, head: nn.Module, patch_widths: dict[str, int], *, dim: int | None, attention: int,
                 dropout: float, mean: bool = False, heads: int = 1) -> None:
        super().__init__()
        self.head = head
        self.bag_modalities = list(patch_widths)
        # a list, not a ModuleDict: modality names may contain "."
        self.encoders = nn.ModuleList(GatedAttentionMIL(p, dim=dim, attention=attention, dropout=dropout, mean=mean,
                                                        heads=heads) for p in patch_widths.values())

    def encode(self, m: str, patches: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding ``(B, out_dim)`` and attention ``(B, K)`` of bag modality ``m``."""
        return self.encoders[self.bag_modalities.index(m)](patches, mask)

    def head_forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """The log-risk from tabular inputs and bag embeddings, all in ``x``."""
        return self.head(x)

    def forward(self, x: dict[str, torch.Tensor], bags: dict[str, tuple[torch.Tensor, torch.Tensor]]
                ) -> torch.Tensor:
        inputs: dict[str, Any] = dict(x)
        for m, (patches, mask) in bags.items():
            inputs[m] = self.encode(m, patches, mask)[0]
        return self.head(inputs)
