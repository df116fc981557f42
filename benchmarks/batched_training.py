"""Section 6 of ``make bench``: the additive null's refits trained one by one, batched, and the floor.

One audit unit of glioma-sim (holdout, seed 0): a fusion model is fitted on
the unit's training fold, and R null cohorts are drawn from its additive
projection exactly as the audit's additive null does
(:func:`intersurv.audit.additive_null.draw_additive_null`). The R refits
(seeds ``10000 (r + 1)``, the audit's training defaults) are then trained

* one by one: ``[intersurv.fit(null_r, arch, seed_r) for r]``;
* batched: ``intersurv.training.batched.fit_batched(nulls, arch, seeds)``;
* floor: the bare stacked passes of the same epochs - for every epoch e the
  copies still training at e (from the batched fits' histories) run one
  vmapped forward and backward pass over their training parts and one
  forward pass over their validation parts, on pre-built stacked inputs,
  without dropout masks, loss, optimiser or early stopping.

Two input sizes: the cohort's features reduced to 32 principal components per
modality beforehand (per-step overhead dominates) and the raw 2,048 + 1,000
features (arithmetic dominates). Each configuration is timed once (one by
one, batched and floor in turn): the runs are long and the ratios large.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from intersurv import Cohort
from intersurv.audit.additive_null import draw_additive_null
from intersurv.interactions import explain
from intersurv.training import fit
from intersurv.training.batched import fit_batched
from intersurv.training.fit import Prepared
from intersurv.training.pca import PrincipalAxes
from intersurv.training.settings import TrainSettings
from intersurv.training.splits import holdout_split
from intersurv.training.standardize import Standardizer


def reduced(cohort: Cohort, components: int) -> Cohort:
    """``cohort`` with every modality replaced by its leading ``components`` principal components."""
    X = Standardizer.fit(cohort.modalities).transform(cohort.modalities)
    Z = PrincipalAxes.fit(X, components).transform(X)
    return Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=Z, name=cohort.name)


def null_cohorts(cohort: Cohort, arch: str, refits: int, train_kw: dict[str, Any]) -> list[Cohort]:
    """The unit's training fold with ``refits`` outcome draws from ``arch``'s additive projection."""
    fold = cohort.subset(holdout_split(cohort.event, 0.2, 0).train)
    model = fit(fold, arch, 0, **train_kw)
    f_add = explain(model, fold, output="log_risk").additive_projection()
    rng = np.random.default_rng([0, 0, 0xADD])
    out = []
    for r in range(refits):
        t, e = draw_additive_null(f_add, model.baseline, fold.time, fold.event, rng)
        out.append(Cohort(ids=fold.ids, time=t, event=e, modalities=fold.modalities, name=f"null {r + 1}"))
    return out


def floor_time(nulls: list[Cohort], arch: str, seeds: list[int], epochs: list[int], train_kw: dict[str, Any],
               hyper: dict[str, Any]) -> float:
    """Seconds of the bare stacked passes (module docstring) for copies that ran ``epochs[b]`` epochs."""
    settings = TrainSettings.from_dict({**train_kw, **hyper})
    preps = [Prepared.make(c, arch, s, settings) for c, s in zip(nulls, seeds)]
    models = [p.build(**hyper).eval() for p in preps]
    template = models[0]
    params, buffers = torch.func.stack_module_state(models)
    parts = [(p.tensors("train")[0], p.tensors("val")[0]) for p in preps]
    x_train = {m: torch.stack([tr[m] for tr, _ in parts]) for m in preps[0].used}
    x_val = {m: torch.stack([va[m] for _, va in parts]) for m in preps[0].used}
    order = np.argsort(epochs)[::-1]  # copies that run longest first: the active ones are a prefix
    idx = torch.from_numpy(order.copy())
    params = {k: v.detach()[idx].requires_grad_(True) for k, v in params.items()}
    buffers = {k: v[idx] for k, v in buffers.items()}
    x_train = {m: v[idx] for m, v in x_train.items()}
    x_val = {m: v[idx] for m, v in x_val.items()}
    ran = np.asarray(epochs)[order]

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            return torch.func.functional_call(template, (p, b), (x,))

    stacked = torch.func.vmap(forward)
    start = time.perf_counter()
    for e in range(1, int(ran.max()) + 1):
        a = int((ran >= e).sum())
        p = {k: v[:a] for k, v in params.items()}
        b = {k: v[:a] for k, v in buffers.items()}
        out = stacked(p, b, {m: v[:a] for m, v in x_train.items()})
        torch.autograd.grad(out.sum(), list(params.values()))
        with torch.no_grad():
            stacked(p, b, {m: v[:a] for m, v in x_val.items()})
    return time.perf_counter() - start


def compare(cohort: Cohort, arch: str, refits: int, components: int | None, max_epochs: int = 200,
            **hyper: Any) -> list[Any]:
    """One row: arch, inputs, R, epochs, one-by-one s, batched s, floor s, ratios, equal best epochs.

    ``components``: the cohort's modalities reduced to that many principal components first (once,
    so that the refits time training, not the reduction), or None for the raw features."""
    if components is not None:
        cohort = reduced(cohort, components)
    train_kw: dict[str, Any] = {"max_epochs": max_epochs}
    nulls = null_cohorts(cohort, arch, refits, {**train_kw, **hyper})
    seeds = [10_000 * (r + 1) for r in range(refits)]
    t0 = time.perf_counter()
    one = [fit(c, arch, s, **train_kw, **hyper) for c, s in zip(nulls, seeds)]
    t1 = time.perf_counter()
    batched = fit_batched(nulls, arch, seeds, **train_kw, **hyper)
    t2 = time.perf_counter()
    epochs = [len(m.history["val"]) for m in batched]
    floor = floor_time(nulls, arch, seeds, epochs, train_kw, hyper)
    widths = nulls[0].widths()
    same = sum(a.best_epoch == b.best_epoch for a, b in zip(one, batched))
    return [arch, " + ".join(map(str, widths.values())), refits, sum(epochs), t1 - t0, t2 - t1, floor,
            (t1 - t0) / (t2 - t1), (t2 - t1) / floor, f"{same}/{refits}"]


HEADERS = ["architecture", "inputs", "refits", "epochs (sum)", "one by one s", "batched s", "floor s",
           "one by one / batched", "batched / floor", "same best epoch"]


DESCRIPTION = (
    "One holdout unit of glioma-sim (seed 0): a fusion model fitted on its training fold, {refits} outcome "
    "draws from its additive projection (the audit's additive null), refitted with the audit's training "
    "defaults (max 200 epochs, patience 20, full batch, default hyperparameters) one by one (`intersurv.fit`) "
    "and batched (`fit_batched`); floor: the bare vmapped forward and backward passes over the training parts "
    "and forward passes over the validation parts of the copies still training at each epoch, on pre-built "
    "stacked inputs. Inputs: the features reduced beforehand to 32 principal components per modality, or raw. "
    "Cross-attention ({slow} refits, dropout 0: its default attention dropout is drawn inside "
    "scaled_dot_product_attention and cannot be replayed per copy, so with dropout > 0 it is fitted one by "
    "one). One timing each (one by one, batched, floor in turn).")


def batched_rows(refits: int, refits_slow: int, quick: bool) -> list[list[Any]]:
    """The rows of section 6: gated (``refits``) and cross-attention (``refits_slow``), reduced and raw."""
    from intersurv import simulate
    from intersurv.datasets import BUILTINS

    cohort = (simulate("glioma", n=120, seed=0, wsi_dim=40, rna_genes=36) if quick
              else BUILTINS["glioma-sim"].load())
    extra: dict[str, Any] = {"max_epochs": 3} if quick else {}
    components = 8 if quick else 32
    return [compare(cohort, "gated", refits, components, **extra),
            compare(cohort, "gated", refits, None, **extra),
            compare(cohort, "cross_attention", refits_slow, components, dropout=0.0, **extra),
            compare(cohort, "cross_attention", refits_slow, None, dropout=0.0, **extra)]


if __name__ == "__main__":
    import sys

    refits, slow = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (100, 10)))
    print("| " + " | ".join(HEADERS) + " |", flush=True)
    for row in batched_rows(refits, slow, quick=False):
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |", flush=True)
