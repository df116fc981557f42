"""Wide-and-deep: a linear Cox term on the inputs added to a network's log-risk.

With hyperparameter ``skip`` other than ``"none"`` every network architecture
is wrapped as

    h(x) = sum_m z_m . beta_m + g * h_deep(x),

z_m the (transformed) input of modality m, beta_m one coefficient per feature
(no intercept: the Cox baseline absorbs it), g a learned scalar gain and
h_deep the architecture's own network. The linear ("wide") term is additive
over modalities, so it adds no cross-modal interaction: late fusion with a
skip term stays additive (InterSHAP 0), and the interaction of any other
architecture is that of g * h_deep.

Initialisation (``skip``):

* ``"zero"`` - beta = 0, g = 1: at initialisation the model is the network;
* ``"cox"`` - beta = the elastic-net Cox of the transformed inputs of all the
  patients given to :func:`intersurv.training.fit.fit` (its penalty chosen
  by inner CV, as for the ``linear:<m>`` references:
  :func:`intersurv.training.linear.coxnet_beta`), held *fixed*, and g = 0: at
  initialisation the model *is* that linear Cox, the network learns what it
  misses (a residual log-risk), and early stopping on the validation part
  decides how far it moves away from it, epoch 0 (the linear Cox itself)
  included.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Values of the ``skip`` hyperparameter.
SKIP_MODES = ("none", "zero", "cox")


class WideAndDeep(nn.Module):
    """``deep`` plus a linear term on the concatenated inputs, deep part scaled by a gain."""

    def __init__(self, deep: nn.Module, widths: dict[str, int], skip: str) -> None:
        super().__init__()
        if skip not in SKIP_MODES[1:]:
            raise ValueError(f"skip must be one of {SKIP_MODES[1:]}, got {skip!r}")
        self.modalities = list(widths)
        self.deep = deep
        self.wide = nn.Linear(sum(widths.values()), 1, bias=False)
        nn.init.zeros_(self.wide.weight)
        self.wide.weight.requires_grad_(skip != "cox")
        self.gain = nn.Parameter(torch.tensor(0.0 if skip == "cox" else 1.0))

    def set_wide(self, beta: np.ndarray) -> None:
        """Set the linear term's coefficients (one per input column, modalities in order)."""
        with torch.no_grad():
            self.wide.weight.copy_(torch.as_tensor(np.asarray(beta), dtype=torch.float32).reshape(1, -1))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        wide = self.wide(torch.cat([x[m] for m in self.modalities], dim=1)).squeeze(-1)
        return wide + self.gain * self.deep(x)
