"""The training loop shared by every network fit: Adam steps per epoch, early stopping, best weights.

:func:`train_epochs` runs steps 3-4 of the protocol of :mod:`intersurv.training.fit`
for any network and any way of forming batches: after every epoch the
validation loss (eval mode) is computed; training stops when it has not
improved for ``patience`` epochs (or after ``max_epochs``) and the weights of
the best epoch are restored. :func:`intersurv.fit` (tabular inputs) and
:func:`intersurv.training.mil_fit.fit_mil` (bags of patches) differ only in
the batches they hand it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import torch

from ..errors import IntersurvError


def train_epochs(module: torch.nn.Module, optimiser: torch.optim.Optimizer,
                 batch_losses: Callable[[int], Iterable[torch.Tensor | None]], val_loss: Callable[[], float], *,
                 max_epochs: int, patience: int, what: str, lr: float,
                 initial: tuple[float, dict[str, torch.Tensor]] | None = None
                 ) -> tuple[dict[str, list[float]], int]:
    """Train ``module`` in place; return its ``history`` (``train``, ``val`` per epoch) and the best epoch.

    ``batch_losses(epoch)`` yields one loss per step of the epoch (None: a batch
    without a partial likelihood, skipped), computed with the module in train
    mode; ``val_loss()`` is called in eval mode without autograd. ``initial``:
    the validation loss and weights of an epoch-0 candidate (best epoch 0: it was
    never improved on). The best weights are loaded into ``module`` on return.
    """
    best_loss, best_state = initial if initial is not None else (math.inf, None)
    best_epoch = 0
    history: dict[str, list[float]] = {"train": [], "val": []}
    for epoch in range(1, max_epochs + 1):
        module.train()
        losses = []
        for loss in batch_losses(epoch):
            if loss is None:
                continue
            if not torch.isfinite(loss):
                raise IntersurvError(f"training {what!r} diverged at epoch {epoch} (non-finite loss); "
                                     f"try a smaller lr (now {lr})")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        module.eval()
        with torch.no_grad():
            current = float(val_loss())
        history["train"].append(float(np.mean(losses)))
        history["val"].append(current)
        if current < best_loss:
            best_loss, best_epoch = current, epoch
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    if best_state is None:
        raise IntersurvError(f"training {what!r}: the validation loss was never finite; try a smaller lr")
    module.load_state_dict(best_state)
    return history, best_epoch
