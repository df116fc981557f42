"""fit: train one architecture on one cohort with a Cox loss and early stopping.

Protocol (docs/design.md section 3), all on the cohort passed in (the caller keeps
its test patients out):

1. **Validation split.** ``round(val_fraction * N)`` patients are set aside,
   stratified by event (:func:`intersurv.training.splits.holdout_split` with
   ``seed``); the rest is the *training part*.
2. **Input transform** per modality and feature (``transform``: standardise,
   standardise-then-clip or rank-based inverse normal), fitted on the
   training part only (:class:`~intersurv.training.standardize.Standardizer`), then, if
   asked (``reduce``), **reduction** of wide modalities to their leading
   whitened principal components, also fitted on the training part
   (:class:`~intersurv.training.pca.PrincipalAxes`).
3. **Training.** The network from :func:`intersurv.models.build_model` is
   initialised from ``seed`` (with ``skip="cox"`` its linear term is the
   elastic-net Cox of the transformed inputs of all the cohort's patients,
   penalty by ``inner_folds``-fold CV with ``l1_ratio`` as for the linear
   references, held fixed: :mod:`intersurv.models.wide`) and trained with
   Adam (``lr``, ``weight_decay``) on the Cox negative partial log-likelihood
   :func:`intersurv.survival.cox_nll` (mean over events, Efron or Breslow
   ties): over the whole training part per step (``batch_size=None``), or over
   seeded mini-batches of ``batch_size`` patients (a batch without an event has
   no partial likelihood and is skipped).
4. **Early stopping.** After every epoch the loss on the validation part is
   computed in eval mode; training stops when it has not improved for
   ``patience`` epochs (or after ``max_epochs``) and the weights of the best
   epoch are restored. With ``skip="cox"`` the initial model (epoch 0: the
   linear Cox) is a candidate too: best epoch 0 means the network did not
   improve on the linear Cox on the validation part.
5. **Baseline.** The Breslow baseline hazard is fitted on the training part's
   log-risks under the restored weights.

The linear reference models (``linear:<modality>``, ``clinical``) are fitted
by :func:`intersurv.training.linear.fit_linear` instead (penalised partial
likelihood, penalty by inner CV; ``l1_ratio`` and ``inner_folds`` apply to
them and to a network's ``skip="cox"`` initialisation, the network's options
do not apply to them).

Reproducibility: the same cohort, arguments and seed give identical weights and
predictions on the same CPU build and thread count. The seed drives the split,
the initialisation, dropout and the batch order; torch's global random state
is restored on return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..cohort import Cohort
from ..errors import IntersurvError
from ..models import build_model, is_linear, is_pooled, model_modalities
from .fitted import FittedModel
from .device import resolve_device
from .epochs import train_epochs
from .splits import holdout_split
from .pca import PrincipalAxes
from .settings import DEFAULT_TRAIN, TrainSettings
from .standardize import Standardizer, transform_per_modality

log = logging.getLogger("intersurv")


def validation_split(cohort: Cohort, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, val) in ``cohort``, stratified by event; both parts must have events."""
    n = cohort.n_patients
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val > n - 2:
        raise IntersurvError(f"val_fraction {val_fraction} of {n} patients leaves {n_val} for validation "
                             f"and {n - n_val} for training; cohort {cohort.name!r} is too small")
    split = holdout_split(cohort.event, val_fraction, seed)
    for part, idx in (("validation", split.test), ("training", split.train)):
        if cohort.event[idx].sum() == 0:
            raise IntersurvError(f"cohort {cohort.name!r}: the {part} part ({len(idx)} patients) has no events "
                                 f"({cohort.n_events} events in {n} patients); change val_fraction")
    return split.train, split.test


def uses_bags(cohort: Cohort, arch: str) -> bool:
    """Whether ``arch`` on ``cohort`` is an attention-MIL model: a network (not a linear reference, no
    ``@pooled`` suffix) that uses a modality of kind ``bags``."""
    if is_linear(arch) or is_pooled(arch):
        return False
    return any(cohort.kinds.get(m) == "bags" for m in model_modalities(arch, cohort.modality_names))


@dataclass(eq=False)
class Prepared:
    """Steps 1-2 of the protocol for one (cohort, seed): the split, input transform and reduction.

    :func:`fit` and :func:`intersurv.training.batched.fit_batched` share it, so
    that a copy trained in a batch sees exactly the inputs of a one-by-one fit.
    """

    cohort: Cohort
    arch: str
    used: list[str]
    train: Cohort
    val: Cohort
    raw_train: dict[str, np.ndarray]
    standardizer: Standardizer
    axes: PrincipalAxes
    #: The network inputs of "train" and "val", transformed once (released by :meth:`finish`).
    inputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def make(cls, cohort: Cohort, arch: str, seed: int, settings: TrainSettings) -> "Prepared":
        used = model_modalities(arch, cohort.modality_names)
        train_idx, val_idx = validation_split(cohort, settings.val_fraction, seed)
        train, val = cohort.subset(train_idx), cohort.subset(val_idx)
        raw_train = {m: train.modalities[m] for m in used}
        standardizer = Standardizer.fit(raw_train, settings.transform)
        z_train = standardizer.transform(raw_train)
        axes = PrincipalAxes.fit(z_train, settings.reduce)
        return cls(cohort, arch, used, train, val, raw_train, standardizer, axes,
                   {"train": axes.transform(z_train)})

    def input_widths(self) -> dict[str, int]:
        """The network's input width per modality (after the reduction)."""
        return self.axes.widths({m: self.cohort.widths()[m] for m in self.used})

    def build(self, **model_hyper: Any) -> torch.nn.Module:
        """A fresh network for these inputs (initialised from torch's global generator)."""
        return build_model(self.arch, self.input_widths(), **model_hyper)

    def tensors(self, part: str, device: torch.device | None = None
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The network inputs of ``part`` ("train" or "val"; on ``device``, default the CPU) and its
        (time, event)."""
        cohort = {"train": self.train, "val": self.val}[part]
        if part not in self.inputs:
            self.inputs[part] = self.axes.transform(self.standardizer.transform(
                {m: cohort.modalities[m] for m in self.used}))
        # Features in float32 (the models' precision); times stay float64 so that
        # the tied times are exactly those of the data.
        return ({m: torch.from_numpy(v).to(device) for m, v in self.inputs[part].items()},
                torch.from_numpy(cohort.time), torch.from_numpy(cohort.event.astype(bool)))

    def finish(self, module: torch.nn.Module, history: dict[str, list[float]], best_epoch: int,
               settings: dict[str, Any]) -> FittedModel:
        """Step 5 (the Breslow baseline) for ``module`` holding the best weights, and the FittedModel
        (``settings``: its seed and :meth:`TrainSettings.options`)."""
        from ..survival import BreslowBaseline

        if best_epoch == settings["max_epochs"]:
            log.warning("training %s (seed %d): the best epoch is the last one (%d = max_epochs); it has likely "
                        "not converged, consider a larger max_epochs", self.arch, settings["seed"], best_epoch)
        module.eval()
        raw_train, train = self.raw_train, self.train
        with torch.inference_mode():
            x_train = self.tensors("train", next(module.parameters()).device)[0]
            log_risk = module(x_train).double().cpu().numpy()
        self.inputs.clear()
        baseline = BreslowBaseline.fit(log_risk, train.time, train.event)
        widths = {m: self.cohort.widths()[m] for m in self.used}
        return FittedModel(
            arch=self.arch, modalities=self.used, widths=widths, hyper=module.hyper, module=module,
            standardizer=self.standardizer, axes=self.axes, baseline=baseline, train_ids=train.ids.tolist(),
            val_ids=self.val.ids.tolist(), history=history, best_epoch=best_epoch, settings=settings,
            reference=raw_train,
        )


def fit(cohort: Cohort, arch: str, seed: int = 0, *, val_fraction: float = DEFAULT_TRAIN.val_fraction,
        lr: float = DEFAULT_TRAIN.lr, weight_decay: float = DEFAULT_TRAIN.weight_decay,
        max_epochs: int = DEFAULT_TRAIN.max_epochs, patience: int = DEFAULT_TRAIN.patience,
        batch_size: int | None = DEFAULT_TRAIN.batch_size, ties: str = DEFAULT_TRAIN.ties,
        reduce: str | int = DEFAULT_TRAIN.reduce, transform: str | dict[str, str] = DEFAULT_TRAIN.transform,
        l1_ratio: float = DEFAULT_TRAIN.l1_ratio, inner_folds: int = DEFAULT_TRAIN.inner_folds,
        device: str = DEFAULT_TRAIN.device, bag_patches: int | None = DEFAULT_TRAIN.bag_patches,
        bag_reduce: str | int = DEFAULT_TRAIN.bag_reduce, bag_dim: int = DEFAULT_TRAIN.bag_dim,
        bag_attention: int = DEFAULT_TRAIN.bag_attention, bag_center: bool = DEFAULT_TRAIN.bag_center,
        bag_mean: bool = DEFAULT_TRAIN.bag_mean, bag_heads: int = DEFAULT_TRAIN.bag_heads,
        bag_weight_decay: float = DEFAULT_TRAIN.bag_weight_decay, **model_hyper: Any) -> FittedModel:
    """Train ``arch`` on ``cohort`` (see the module docstring) and return the :class:`FittedModel`.

    ``device``: ``"auto"`` (a GPU when torch sees one, else the CPU), ``"cpu"``
    or ``"cuda"`` (:mod:`intersurv.training.device`); the returned model stays
    there, so its predictions (and explanations) run there too.
    ``reduce`` chooses the principal-component reduction: ``"none"`` (default:
    the transformed features), ``"auto"`` (modalities wider than the training
    part, components above the noise edge) or a number of components (see
    :mod:`intersurv.training.pca`, and ``docs/validation.md`` for what it
    changes on simulated and real cohorts).
    ``transform`` names the input transform of every modality, or maps
    modality names to theirs (others: ``"standardize"``); the default
    ``"rank_normal"`` was chosen by cross-validated C on real TCGA cohorts
    (``docs/validation.md``); see :mod:`intersurv.training.standardize`.
    A network using a bag modality of ``cohort`` is an attention-MIL model
    (:func:`uses_bags`; ``bag_*`` settings: :mod:`intersurv.training.mil_fit`).
    ``model_hyper`` are the architecture's hyperparameters (``hidden``,
    ``dropout``, ``rank``, ...; see :mod:`intersurv.models.registry`).
    ``history`` of the result holds per epoch ``train`` (mean of the epoch's
    batch losses, dropout active) and ``val`` (validation loss, eval mode);
    ``best_epoch`` counts epochs from 1 (0: the initial model, ``skip="cox"`` only).
    """
    from ..survival import cox_nll

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise IntersurvError(f"seed must be an integer (got {seed!r})")
    seed = int(seed)
    settings = TrainSettings(val_fraction=val_fraction, lr=lr, weight_decay=weight_decay, max_epochs=max_epochs,
                             patience=patience, batch_size=batch_size, ties=ties, reduce=reduce, transform=transform,
                             l1_ratio=l1_ratio, inner_folds=inner_folds, device=device, bag_patches=bag_patches,
                             bag_reduce=bag_reduce, bag_dim=bag_dim, bag_attention=bag_attention,
                             bag_center=bag_center, bag_mean=bag_mean, bag_heads=bag_heads,
                             bag_weight_decay=bag_weight_decay, hyper=model_hyper)
    transform_per_modality(transform, [], cohort.modality_names)  # names checked before anything is fitted
    if is_linear(arch):
        from .linear import fit_linear

        return fit_linear(cohort, arch, seed, l1_ratio=l1_ratio, inner_folds=inner_folds, transform=transform)
    if uses_bags(cohort, arch):
        from .mil_fit import fit_mil

        return fit_mil(cohort, arch, seed, settings)
    dev = resolve_device(device)
    prep = Prepared.make(cohort, arch, seed, settings)
    train = prep.train
    x_tr, t_tr, e_tr = prep.tensors("train", dev)
    x_va, t_va, e_va = prep.tensors("val", dev)
    n = train.n_patients

    def batch_losses(epoch: int):
        if batch_size is None or batch_size >= n:
            batches = [torch.arange(n)]
        else:
            batches = list(torch.randperm(n, generator=order_rng).split(batch_size))
        for b in batches:
            yield (cox_nll(module({m: v[b] for m, v in x_tr.items()}), t_tr[b], e_tr[b], ties=ties)
                   if e_tr[b].any() else None)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = prep.build(**model_hyper).to(dev)
        optimiser = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
        order_rng = torch.Generator().manual_seed(seed)
        initial = None
        if module.hyper["skip"] == "cox":  # the penalised linear Cox of all the cohort's patients, fixed
            from .linear import coxnet_beta

            z = prep.axes.transform(prep.standardizer.transform({m: cohort.modalities[m] for m in prep.used}))
            module.set_wide(coxnet_beta(np.concatenate([z[m] for m in prep.used], axis=1).astype(np.float64),
                                        cohort.time, cohort.event, l1_ratio, inner_folds, seed)[0])
            module.eval()  # epoch 0, the linear Cox itself, is a candidate of the early stopping
            with torch.no_grad():
                initial = (float(cox_nll(module(x_va), t_va, e_va, ties=ties)),
                           {k: v.detach().clone() for k, v in module.state_dict().items()})
        history, best_epoch = train_epochs(
            module, optimiser, batch_losses, lambda: cox_nll(module(x_va), t_va, e_va, ties=ties),
            max_epochs=max_epochs, patience=patience, what=arch, lr=lr, initial=initial)
    return prep.finish(module, history, best_epoch, {"seed": seed, **settings.options()})
