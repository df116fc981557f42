"""The linear Cox model as a module: h(x) = sum_m z_m . beta_m.

The reference models ``linear:<modality>`` and ``clinical`` are this module
over the (standardised) inputs of one modality; their coefficients are fitted
by penalised partial likelihood (:mod:`intersurv.training.linear`), not by
gradient descent. Being additive in its inputs, a linear model over several
modalities has no cross-modal interaction (InterSHAP 0).
"""

from __future__ import annotations

import torch
from torch import nn


class LinearCox(nn.Module):
    """One coefficient per input feature, no intercept (the Cox baseline absorbs it)."""

    def __init__(self, widths: dict[str, int]) -> None:
        super().__init__()
        self.modalities = list(widths)
        self.linear = nn.Linear(sum(widths.values()), 1, bias=False)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(torch.cat([x[m] for m in self.modalities], dim=1)).squeeze(-1)
