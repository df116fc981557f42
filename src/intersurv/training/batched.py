"""fit_batched: train B independent copies of one architecture at once, as one stacked model.

Each copy b is an ordinary :func:`intersurv.fit` of ``cohorts[b]`` with
``seeds[b]`` - its own validation split, standardisation, reduction,
initialisation, dropout masks, Adam state, early stopping and Breslow
baseline - but the B networks run as one: their parameters are stacked along
a leading copy axis (:func:`torch.func.stack_module_state`) and the forward
pass is ``vmap`` of :func:`torch.func.functional_call`, so an epoch costs a few
large batched matrix products instead of B small ones. Copies may differ in
seed (split, initialisation, dropout), in outcomes (time, event) and in
feature values; they must have the same number of patients and input widths
(copies that do not are batched in separate groups).

What keeps a copy identical to its one-by-one fit:

* **Initialisation and dropout.** Copy b's network is built after
  ``torch.manual_seed(seeds[b])`` exactly as in :func:`~intersurv.fit`; torch's
  generator state after the build is copied into a per-copy generator, and the
  dropout masks are drawn from it in the order and shapes of the one-by-one
  forward pass (``empty(shape).bernoulli_(1 - p) / (1 - p)``, what CPU dropout
  does), then passed into the vmapped forward pass. Cross-attention draws its
  attention dropout inside ``scaled_dot_product_attention``, which cannot be
  replayed: with ``dropout > 0`` it is fitted one by one.
* **Loss.** :class:`intersurv.survival.stacked.StackedCoxLoss`, the Cox loss
  of every copy on its own (time, event), equal to
  :func:`~intersurv.survival.cox_nll` up to the order of summation.
* **Adam.** Adam is elementwise, so one Adam over the stacked parameters is B
  independent Adams (same formulas as ``torch.optim.Adam`` with L2
  ``weight_decay``: the decay is added to the gradient).
* **Early stopping.** A copy whose validation loss has not improved for
  ``patience`` epochs stops: its best weights are kept, its loss no longer
  enters the gradient and nothing of it is read again. Stopped copies are
  removed from the stack (parameters, Adam state, inputs, loss) once they are
  a quarter of it, so that the stack is not copied every time one stops.

Results agree with one-by-one fits to float32 rounding (batched matrix
products sum in another order), so the best epochs agree unless two epochs'
validation losses tie to rounding. Only full-batch training (``batch_size``
None or at least the training part) is batched; mini-batch fits, and
architectures whose forward pass cannot be vmapped, run one by one through
:func:`~intersurv.fit` and give the same results.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..cohort import Cohort
from ..errors import IntersurvError
from ..models import is_linear
from ..survival.stacked import StackedCoxLoss
from .device import resolve_device
from .fit import Prepared, fit, uses_bags
from .fitted import FittedModel
from .settings import TrainSettings

#: Copies are batched in groups whose stacked training inputs hold at most this many float32 values (512 MiB).
MAX_STACK_VALUES = 1 << 27

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as in fit


class _MaskFeed:
    """Hands the dropout layers of the stacked forward pass their masks, in call order."""

    def __init__(self) -> None:
        self.masks: Sequence[torch.Tensor] = ()
        self.shapes: list[tuple[tuple[int, ...], float]] | None = None  # set while recording
        self.next = 0

    def take(self, x: torch.Tensor, p: float) -> torch.Tensor:
        if self.shapes is not None:
            self.shapes.append((tuple(x.shape), p))
            return x
        mask = self.masks[self.next]
        self.next += 1
        return x * mask


class _FeedDropout(nn.Module):
    """``nn.Dropout`` whose masks come from a :class:`_MaskFeed` (identity in eval mode or at p = 0)."""

    def __init__(self, p: float, feed: _MaskFeed) -> None:
        super().__init__()
        self.p, self.feed = p, feed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return self.feed.take(x, self.p)


def _with_feed(module: nn.Module, feed: _MaskFeed) -> nn.Module:
    """A copy of ``module`` with every ``nn.Dropout`` replaced by a :class:`_FeedDropout`."""
    template = copy.deepcopy(module)
    for name, child in list(template.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Dropout):
                setattr(child, attr, _FeedDropout(sub.p, feed))
    return template


def _replayable(module: nn.Module) -> bool:
    """Whether every random draw of the forward pass is an ``nn.Dropout`` (attention dropout is not)."""
    return not any(isinstance(m, nn.MultiheadAttention) and m.dropout > 0 for m in module.modules())


class _Stack:
    """B copies' parameters, Adam state, inputs, losses and dropout generators; rows can be dropped."""

    def __init__(self, models: list[nn.Module], generators: list[torch.Generator], preps: list[Prepared],
                 ties: str, device: torch.device) -> None:
        params, buffers = torch.func.stack_module_state([m.to(device) for m in models])
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.detach().clone() for k, v in buffers.items()}
        self.exp_avg = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.generators = generators
        self.rows = np.arange(len(models))  # original copy index of each row
        self.live = np.ones(len(models), dtype=bool)  # rows still training
        parts = [(p.tensors("train", device)[0], p.tensors("val", device)[0]) for p in preps]
        used = preps[0].used
        self.x_train = {m: torch.stack([tr[m] for tr, _ in parts]) for m in used}
        self.x_val = {m: torch.stack([va[m] for _, va in parts]) for m in used}
        self.loss_train = StackedCoxLoss(np.stack([p.train.time for p in preps]),
                                         np.stack([p.train.event for p in preps]), ties)
        self.loss_val = StackedCoxLoss(np.stack([p.val.time for p in preps]),
                                       np.stack([p.val.event for p in preps]), ties)

    def keep(self, keep: np.ndarray) -> None:
        """Drop the rows not in the boolean mask ``keep``."""
        idx = torch.from_numpy(np.flatnonzero(keep)).to(next(iter(self.params.values())).device)
        self.params = {k: v.detach()[idx].requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v[idx] for k, v in self.buffers.items()}
        self.exp_avg = {k: v[idx] for k, v in self.exp_avg.items()}
        self.exp_avg_sq = {k: v[idx] for k, v in self.exp_avg_sq.items()}
        self.generators = [g for g, k in zip(self.generators, keep) if k]
        self.rows = self.rows[keep]
        self.live = self.live[keep]
        self.x_train = {m: v[idx] for m, v in self.x_train.items()}
        self.x_val = {m: v[idx] for m, v in self.x_val.items()}
        self.loss_train = self.loss_train.rows(keep)
        self.loss_val = self.loss_val.rows(keep)

    def adam_step(self, grads: Sequence[torch.Tensor], step: int, lr: float, weight_decay: float) -> None:
        """``torch.optim.Adam.step`` (single-tensor form, L2 weight decay) on every row at once."""
        bias_correction1 = 1 - _BETA1 ** step
        bias_correction2_sqrt = (1 - _BETA2 ** step) ** 0.5
        with torch.no_grad():
            for (k, param), grad in zip(self.params.items(), grads):
                if weight_decay != 0:
                    grad = grad.add(param, alpha=weight_decay)
                self.exp_avg[k].lerp_(grad, 1 - _BETA1)
                self.exp_avg_sq[k].mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
                denom = (self.exp_avg_sq[k].sqrt() / bias_correction2_sqrt).add_(_EPS)
                param.addcdiv_(self.exp_avg[k], denom, value=-(lr / bias_correction1))


def _draw_masks(generators: list[torch.Generator], live: np.ndarray, shape: tuple[int, ...], p: float
                ) -> torch.Tensor:
    """(B, *shape) dropout masks, row b drawn from ``generators[b]`` as CPU dropout draws it (ones where the
    copy no longer trains)."""
    out = torch.empty((len(generators), *shape))
    for row, g, alive in zip(out, generators, live):
        if alive:
            row.bernoulli_(1 - p, generator=g)
        else:
            row.fill_(1 - p)
    return out.div_(1 - p)


def _train_group(preps: list[Prepared], seeds: list[int], arch: str, *, lr: float, weight_decay: float,
                 max_epochs: int, patience: int, ties: str, device: torch.device, model_hyper: dict[str, Any]
                 ) -> list[tuple[nn.Module, dict[str, list[float]], int]]:
    """Train one group of same-shaped copies; (module with its best weights, history, best epoch) per copy."""
    models, generators = [], []
    with torch.random.fork_rng(devices=[]):
        for prep, seed in zip(preps, seeds):
            torch.manual_seed(seed)
            models.append(prep.build(**model_hyper))
            generators.append(torch.Generator())
            generators[-1].set_state(torch.get_rng_state())
    feed = _MaskFeed()
    template = _with_feed(models[0], feed)
    # The shapes and rates of the dropout draws of one training forward pass, in call order.
    feed.shapes = []
    template.train()
    with torch.no_grad():
        template(preps[0].tensors("train")[0])
    shapes, feed.shapes = feed.shapes, None

    def forward(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: dict[str, torch.Tensor],
                masks: tuple[torch.Tensor, ...]) -> torch.Tensor:
        feed.masks, feed.next = masks, 0
        # The math attention kernel is made of operations vmap batches; the fused CPU kernel has no
        # batching rule and would run copy by copy.
        with sdpa_kernel(SDPBackend.MATH):
            return torch.func.functional_call(template, (params, buffers), (x,))

    stacked_forward = torch.func.vmap(forward)
    template.to(device)
    stack = _Stack(models, generators, preps, ties, device)
    n_copies = len(models)
    history: list[dict[str, list[float]]] = [{"train": [], "val": []} for _ in range(n_copies)]
    best_loss = np.full(n_copies, math.inf)
    best_epoch = np.zeros(n_copies, dtype=int)
    best = {k: v.detach().clone() for k, v in stack.params.items()}
    for epoch in range(1, max_epochs + 1):
        template.train()
        live = stack.live
        masks = tuple(_draw_masks(stack.generators, live, shape, p).to(device) for shape, p in shapes)
        losses = stack.loss_train(stacked_forward(stack.params, stack.buffers, stack.x_train, masks))
        finite = torch.isfinite(losses.detach()).cpu().numpy() | ~live
        if not finite.all():
            bad = int(stack.rows[int(np.argmin(finite))])
            raise IntersurvError(f"training {arch!r} (seed {seeds[bad]}) diverged at epoch {epoch} "
                                 f"(non-finite loss); try a smaller lr (now {lr})")
        live_t = torch.from_numpy(live).to(device)
        total = torch.where(live_t, losses, torch.zeros_like(losses)).sum()
        grads = torch.autograd.grad(total, list(stack.params.values()))
        stack.adam_step(grads, epoch, lr, weight_decay)
        template.eval()
        with torch.no_grad():
            val = stack.loss_val(stacked_forward(stack.params, stack.buffers, stack.x_val, ())).cpu().numpy()
        train = losses.detach().cpu().numpy()
        rows = stack.rows
        for i in np.flatnonzero(live):
            history[rows[i]]["train"].append(float(train[i]))
            history[rows[i]]["val"].append(float(val[i]))
        improved = live & (val < best_loss[rows])
        if improved.any():
            best_loss[rows[improved]], best_epoch[rows[improved]] = val[improved], epoch
            idx = torch.from_numpy(np.flatnonzero(improved)).to(device)
            target = torch.from_numpy(rows[improved]).to(device)
            for k, v in stack.params.items():
                best[k][target] = v.detach()[idx]
        stack.live = live & ~(~improved & (epoch - best_epoch[rows] >= patience))
        if epoch == max_epochs or not stack.live.any():
            break
        if stack.live.sum() <= 0.75 * len(rows):
            stack.keep(stack.live)
    out = []
    for b, model in enumerate(models):
        if best_epoch[b] == 0:
            raise IntersurvError(f"training {arch!r} (seed {seeds[b]}): the validation loss was never finite; "
                                 "try a smaller lr")
        model.load_state_dict(model.state_dict() | {k: v[b] for k, v in best.items()})
        out.append((model, history[b], int(best_epoch[b])))
    return out


def fit_batched(cohorts: Cohort | Sequence[Cohort], arch: str, seeds: Sequence[int], **train: Any
                ) -> list[FittedModel]:
    """``[fit(cohorts[b], arch, seeds[b], **train) for b]``, trained as stacked copies (module docstring).

    ``cohorts`` is one cohort for every seed or one per seed; ``train`` are the
    keyword arguments of :func:`intersurv.fit` (:class:`~.settings.TrainSettings`,
    model hyperparameters and ``device`` included), shared by all copies.
    """
    seeds = list(seeds)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise IntersurvError(f"seed must be an integer (got {seed!r})")
    seeds = [int(s) for s in seeds]
    cohorts = [cohorts] * len(seeds) if isinstance(cohorts, Cohort) else list(cohorts)
    if len(cohorts) != len(seeds):
        raise IntersurvError(f"fit_batched: {len(cohorts)} cohorts for {len(seeds)} seeds")
    settings = TrainSettings.from_dict(train, source="fit_batched")
    dev = resolve_device(settings.device)
    if not seeds:
        return []
    batchable = not is_linear(arch) and not uses_bags(cohorts[0], arch)  # MIL models: one by one
    if batchable:
        first = Prepared.make(cohorts[0], arch, seeds[0], settings)
        with torch.random.fork_rng(devices=[]):
            probe = first.build(**settings.hyper)
        # skip="cox" starts each copy from its own linear Cox fit (intersurv.fit), which the stack does not do
        batchable = _replayable(probe) and probe.hyper.get("skip") != "cox" and (
            settings.batch_size is None or settings.batch_size >= first.train.n_patients)
    if not batchable:
        return [fit(c, arch, s, **settings.to_dict()) for c, s in zip(cohorts, seeds)]
    preps = [first] + [Prepared.make(c, arch, s, settings) for c, s in zip(cohorts[1:], seeds[1:])]
    results: list[FittedModel | None] = [None] * len(seeds)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for b, prep in enumerate(preps):
        shape = (prep.train.n_patients, prep.val.n_patients, tuple(prep.input_widths().items()))
        groups.setdefault(shape, []).append(b)
    for (n_train, _, widths), members in groups.items():
        per_copy = n_train * sum(w for _, w in widths)
        size = max(1, MAX_STACK_VALUES // max(1, per_copy))
        for start in range(0, len(members), size):
            chunk = members[start:start + size]
            trained = _train_group([preps[b] for b in chunk], [seeds[b] for b in chunk], arch, lr=settings.lr,
                                   weight_decay=settings.weight_decay, max_epochs=settings.max_epochs,
                                   patience=settings.patience, ties=settings.ties, device=dev,
                                   model_hyper=settings.hyper)
            for b, (module, history, best_epoch) in zip(chunk, trained):
                results[b] = preps[b].finish(module, history, best_epoch, {"seed": seeds[b], **settings.options()})
    return [r for r in results if r is not None]
