"""Building blocks shared by the fusion architectures.

* :func:`mlp` - a stack of ``Linear -> ReLU -> Dropout`` layers, optionally
  closed by a linear output layer (no activation);
* :class:`ModalityEncoders` - one MLP per modality mapping the (standardised)
  features x_m in R^{d_m} to an embedding e_m in R^{k}, k = the last hidden width.

All modules take float32 tensors of shape (N, d) and keep the batch dimension
first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], dropout: float, out_dim: int | None = None) -> nn.Sequential:
    """``in_dim -> hidden[0] -> ... -> hidden[-1] (-> out_dim)``.

    Every hidden layer is ``Linear -> ReLU -> Dropout(dropout)``; the optional
    output layer is a plain ``Linear(hidden[-1], out_dim)``. With ``hidden``
    empty and ``out_dim`` given this is a linear model.
    """
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class ModalityEncoders(nn.Module):
    """One :func:`mlp` per modality: x_m (N, d_m) -> e_m (N, hidden[-1]), ReLU-activated."""

    def __init__(self, widths: dict[str, int], hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.dim = int(hidden[-1])
        # A list, not a ModuleDict: modality names may contain characters that
        # parameter names may not (".").
        self.nets = nn.ModuleList(mlp(d, hidden, dropout) for d in widths.values())

    def forward(self, x: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The embeddings, in the order of ``self.modalities``."""
        return [net(x[m]) for m, net in zip(self.modalities, self.nets)]
