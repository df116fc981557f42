"""fit_mil: train an attention-MIL model on bags of patch features (whole-slide images as bags).

:func:`intersurv.fit` sends here every network that uses a bag modality
(``cohort.kinds[m] == "bags"``) unless its name ends in ``@pooled``. The
model is :class:`~intersurv.models.mil.MILNetwork`: a gated-attention encoder
per bag modality (bag -> embedding of width (H + 1) D: D = ``bag_dim`` per attention
head, H = ``bag_heads``, and D for the bag-mean branch ``bag_mean``, else H D) in front
of the named architecture, built with that width for the bag modality. The protocol is
that of :mod:`intersurv.training.fit`, with bags:

1. **Validation split**: the same (:func:`.fit.validation_split`).
2. **Inputs.** Tabular modalities: the same transform and reduction, fitted on
   the training part. Bag modality m: with ``bag_center`` (the default) each
   patch first has its bag's mean patch subtracted (a per-patient offset shared
   by all its patches, such as stain or scanner, is removed; the bag's mean is what
   ``@pooled`` reads); then each patch vector x is standardised per
   feature and projected onto its leading ``bag_reduce`` whitened principal
   components (:class:`PatchTransform`: ``z = ((x - mean) / sd) V_k diag(lambda_k)^-1/2``
   with the eigen-decomposition of the correlation matrix, as in :mod:`.pca`, fitted
   on a sample of at most :data:`PATCH_SAMPLE` patches of the training part, the same
   number from each patient, drawn with ``derive_seed(BAG_PATCHES, seed)``).
   Every bag of the training and validation parts is read once and held reduced
   (float32, sum of n_a x k values), so an epoch never reads the bag files.
3. **Training**: Adam (L2 penalty ``bag_weight_decay`` on the encoders, ``weight_decay`` on
   the fusion head) on the Cox partial likelihood over mini-batches of
   ``batch_size`` patients (None: :data:`MIL_BATCH_SIZE`; a number at least the
   training part's size: the whole part), in a seeded order;
   at every step each patient contributes at most ``bag_patches`` patches drawn
   without replacement (seeded), and the batch is padded to its largest bag with
   a mask (:func:`padded`).
4. **Early stopping** on the validation part's loss with full bags
   (:func:`.epochs.train_epochs`).
5. **Baseline**: Breslow on the training part's log-risks from full bags.

At evaluation a bag is always whole (every patch); bags are encoded in chunks
of at most :data:`CHUNK_PATCHES` padded patches, so memory does not grow with
the cohort. Reproducible by seed like :func:`intersurv.fit` (same CPU build and
thread count). ``skip="cox"`` is not available (the linear Cox would need the
embeddings before training); the linear references use the pooled vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bags import BagSet
from ..cohort import Cohort
from ..errors import IntersurvError
from ..models import build_model, model_modalities, resolve_hyper
from ..models.mil import MILNetwork, embedding_width
from ..seeds import BAG_PATCHES, derive_seed
from .device import resolve_device
from .epochs import train_epochs
from .fitted import _CHUNK_VALUES, FittedModel
from .pca import PrincipalAxes, reduces, whitened_axes
from .settings import TrainSettings
from .standardize import SD_FLOOR, Standardizer

#: At most this many training patches are sampled to fit the patch standardisation and axes (enough for
#: a direction carried by a few percent of the patches to stand above the noise of the sample covariance).
PATCH_SAMPLE = 100_000
#: Rows per chunk of the patch moments.
_MOMENT_ROWS = 8192
#: Padded patches (patients x longest bag) per forward pass of the encoders at evaluation.
CHUNK_PATCHES = 1 << 16
#: The per-unit file of attention weights (:func:`attention_table` of the test patients).
ATTENTION_FILE = "attention.parquet"
#: Patients per step of an attention-MIL model when ``batch_size`` is None (a tabular network then takes
#: the whole training part): one step per epoch is too few for the attention to settle, and 64 is what
#: ``validation/bags.py`` validated.
MIL_BATCH_SIZE = 64
#: Prefix of the patch axes in the safetensors file.
PATCH_AXES_KEY = "patch_axes/"


def check_bags(bags: BagSet, ids: np.ndarray | None, m: str) -> None:
    """A one-line error naming the first patient (id, else row) with an empty bag (MIL needs every bag)."""
    empty = np.flatnonzero(bags.sizes() == 0)
    if len(empty):
        who = f"patient {ids[empty[0]]!r}" if ids is not None else f"the patient at row {empty[0]}"
        raise IntersurvError(f"modality {m!r}: {who} has no patches ({len(empty)} empty "
                             f"bag(s)); an attention-MIL model needs every patient's bag (name the architecture "
                             f"with @pooled to use the pooled vector, or drop those patients)")


@dataclass(frozen=True)
class PatchTransform:
    """Per bag modality: patch standardisation (per feature) then principal axes (module docstring, step 2)."""

    standardizer: Standardizer
    axes: PrincipalAxes
    center: bool = False

    @classmethod
    def fit(cls, bags: dict[str, BagSet], reduce: str | int, rng: np.random.Generator,
            center: bool = False) -> "PatchTransform":
        """Fitted on a sample of at most :data:`PATCH_SAMPLE` patches of ``bags`` (the same number per
        patient); the moments and the correlation matrix are accumulated over chunks of the sample
        (float64 sums), so memory stays at the float32 sample."""
        mean, scale, axes, share = {}, {}, {}, {}
        for m, b in bags.items():
            per = max(1, math.ceil(PATCH_SAMPLE / len(b)))
            parts = []
            for a in range(len(b)):
                x = b.bag(a)
                if center:
                    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
                parts.append(x[np.sort(rng.choice(len(x), per, replace=False))] if len(x) > per else x)
            sample = np.concatenate(parts)
            n, d = sample.shape
            s1, s2 = np.zeros(d), np.zeros(d)
            for rows in range(0, n, _MOMENT_ROWS):
                x = sample[rows:rows + _MOMENT_ROWS].astype(np.float64)
                s1 += x.sum(axis=0)
                s2 += (x * x).sum(axis=0)
            mu = s1 / n
            sd = np.sqrt(np.maximum(s2 / n - mu * mu, 0.0))
            mean[m], scale[m] = mu.astype(np.float32), np.where(sd > SD_FLOOR, sd, 1.0).astype(np.float32)
            if reduces(reduce, n, d):
                gram = np.zeros((d, d))
                for rows in range(0, n, _MOMENT_ROWS):
                    z = (sample[rows:rows + _MOMENT_ROWS] - mean[m]) / scale[m]
                    gram += z.T @ z
                lam, v = np.linalg.eigh(gram / n)
                axes[m], share[m] = whitened_axes(np.clip(lam[::-1], 0.0, None), v[:, ::-1], n, d, reduce)
        if center:  # centred patches have mean 0 by construction; the scale and axes are of centred patches
            mean = {m: np.zeros_like(v) for m, v in mean.items()}
        return cls(Standardizer(mean, scale, {m: "standardize" for m in mean}), PrincipalAxes(axes, share), center)

    def widths(self) -> dict[str, int]:
        """Reduced patch width k per bag modality."""
        return self.axes.widths({m: int(v.shape[0]) for m, v in self.standardizer.mean.items()})

    def __call__(self, m: str, x: np.ndarray) -> np.ndarray:
        """The reduced patches ``(n, k)`` float32 of raw patches ``x`` ``(n, d)`` of modality ``m``."""
        x = np.asarray(x, dtype=np.float32)
        z = ((x - x.mean(axis=0, dtype=np.float64).astype(np.float32)) if self.center
             else (x - self.standardizer.mean[m])) / self.standardizer.scale[m]
        return z @ self.axes.axes[m] if m in self.axes.axes else z

    def reduce(self, m: str, bags: BagSet) -> list[np.ndarray]:
        """Every bag of ``bags`` reduced (read one at a time)."""
        return [self(m, bags.bag(a)) for a in range(len(bags))]


def padded(reduced: list[np.ndarray], rows: np.ndarray, cap: int | None, rng: np.random.Generator | None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The bags ``reduced[r]`` for r in ``rows`` as ``(B, K, k)`` zero-padded patches and a ``(B, K)``
    mask; with ``cap`` a bag longer than it is replaced by ``cap`` of its patches drawn with ``rng``."""
    parts = []
    for r in rows:
        x = reduced[int(r)]
        if cap is not None and len(x) > cap:
            x = x[np.sort(rng.choice(len(x), cap, replace=False))]
        parts.append(x)
    longest = max(len(x) for x in parts)
    out = np.zeros((len(parts), longest, parts[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(parts), longest), dtype=bool)
    for i, x in enumerate(parts):
        out[i, :len(x)] = x
        mask[i, :len(x)] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def chunks(sizes: np.ndarray, budget: int = CHUNK_PATCHES) -> list[np.ndarray]:
    """Consecutive groups of patients whose padded size (count x longest bag) stays within ``budget``
    (a longer bag alone makes its own group)."""
    groups, start, longest = [], 0, 0
    for a, n in enumerate(np.asarray(sizes, dtype=np.int64)):
        if a > start and (a - start + 1) * max(longest, int(n)) > budget:
            groups.append(np.arange(start, a))
            start, longest = a, 0
        longest = max(longest, int(n))
    groups.append(np.arange(start, len(sizes)))
    return groups if len(sizes) else []


def encode_bags(network: MILNetwork, m: str, sizes: np.ndarray, get: Callable[[int], np.ndarray],
                device: torch.device, attention: bool = False) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Embeddings ``(N, D)`` float32 of N whole bags (``get(a)``: bag a's reduced patches) and, if asked,
    each bag's attention weights ``(n_a,)``; the network is used as it is (call ``.eval()`` first)."""
    enc = network.encoders[network.bag_modalities.index(m)]
    emb = np.empty((len(sizes), enc.out_dim), dtype=np.float32)
    weights: list[np.ndarray] | None = [] if attention else None
    with torch.no_grad():
        for group in chunks(sizes):
            reduced = [get(int(a)) for a in group]
            x, mask = padded(reduced, np.arange(len(group)), None, None)
            e, a = enc(x.to(device), mask.to(device))
            emb[group] = e.cpu().numpy()
            if weights is not None:
                a = a.double().cpu().numpy()
                weights += [a[i, :len(r)] for i, r in enumerate(reduced)]
    return emb, weights


def build_network(arch: str, tabular_widths: dict[str, int], patch_widths: dict[str, int], order: list[str],
                  dim: int, attention: int, hyper: dict[str, Any], mean: bool = False, heads: int = 1) -> MILNetwork:
    """A fresh MIL network: ``arch`` as head over ``order`` (width ``(heads + mean) dim`` for the bag
    modalities: one ``dim`` per attention head and one for the bag-mean branch)."""
    width = embedding_width(dim, heads, mean)
    head = build_model(arch, {m: width if m in patch_widths else tabular_widths[m] for m in order}, **hyper)
    network = MILNetwork(head, patch_widths, dim=dim, attention=attention, dropout=head.hyper.get("dropout", 0.0),
                         mean=mean, heads=heads)
    network.arch, network.hyper = arch, head.hyper
    return network


@dataclass(eq=False)
class MILFittedModel(FittedModel):
    """A trained attention-MIL model (:class:`FittedModel` with bags).

    As a model callable it takes ``X`` whose bag modalities map to
    :class:`~intersurv.bags.BagSet` (the others to raw arrays, as always);
    :meth:`embed` gives the bag embeddings and :meth:`head_log_risk` the log-risk
    from embeddings, the function the interaction engine explains
    (:mod:`intersurv.interactions.encoded`). ``standardizer`` / ``axes`` cover
    the tabular modalities, ``patches`` the bag modalities' patch features.
    """

    bag_modalities: list[str] = field(default_factory=list)
    patches: PatchTransform | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def _bags(self, X: dict[str, Any], m: str) -> BagSet:
        bags = X.get(m)
        if not isinstance(bags, BagSet):
            raise IntersurvError(f"modality {m!r}: the attention-MIL model {self.arch!r} needs its bags (a BagSet), "
                                 f"got {type(bags).__name__}")
        if bags.width != self.widths[m]:
            raise IntersurvError(f"modality {m!r}: patches have {bags.width} features, the model was trained on "
                                 f"{self.widths[m]}")
        return bags

    def embed(self, X: dict[str, Any], attention: bool = False
              ) -> tuple[dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
        """Per bag modality the ``(N, D)`` embeddings of the whole bags of ``X`` and (if asked) the
        attention weights of every patch, one ``(n_a,)`` array per patient."""
        self.module.eval()
        emb, weights = {}, {}
        for m in self.bag_modalities:
            bags = self._bags(X, m)
            check_bags(bags, None, m)
            emb[m], w = encode_bags(self.module, m, bags.sizes(), lambda a, b=bags, m=m: self.patches(m, b.bag(a)),
                                    self.device, attention)
            if attention:
                weights[m] = w
        return emb, weights

    def head_log_risk(self, X: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) float64 log-risks from the bag modalities' embeddings and the other modalities' raw arrays."""
        n = len(X[self.modalities[0]])
        tabular = [m for m in self.modalities if m not in self.bag_modalities]
        width = sum(int(np.shape(X[m])[1]) for m in self.modalities)
        step = max(1, _CHUNK_VALUES // width)
        out = np.empty(n, dtype=np.float64)
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, n, step):
                rows = slice(start, start + step)
                z = self.axes.transform(self.standardizer.transform({m: X[m][rows] for m in tabular}))
                z.update({m: np.array(X[m][rows], dtype=np.float32) for m in self.bag_modalities})
                h = self.module.head_forward({m: torch.from_numpy(v).to(self.device) for m, v in z.items()})
                out[rows] = h.double().cpu().numpy()
        return out

    def predict_log_risk(self, X: dict[str, Any]) -> np.ndarray:
        """(N,) float64 log-risks; ``X``: raw arrays, and a BagSet for every bag modality."""
        emb, _ = self.embed(X)
        return self.head_log_risk({**X, **emb})

    __call__ = predict_log_risk

    def _extra_weights(self) -> dict[str, torch.Tensor]:
        return {PATCH_AXES_KEY + m: torch.from_numpy(a) for m, a in self.patches.axes.axes.items()}

    def _extra_config(self) -> dict[str, Any]:
        return {"bags": {"modalities": self.bag_modalities, "center": self.patches.center,
                         "dim": self.module.encoders[0].dim, "mean": self.module.encoders[0].mean,
                         "heads": self.module.encoders[0].heads,
                         "attention": self.module.encoders[0].V.out_features,
                         "patch_standardization": self.patches.standardizer.to_dict(),
                         "patch_reduction": self.patches.axes.summary()}}

    @classmethod
    def _restore_module(cls, cfg: dict[str, Any], axes: PrincipalAxes, widths: dict[str, int],
                        state: dict[str, torch.Tensor]) -> tuple[nn.Module, dict[str, Any]]:
        bags = cfg["bags"]
        reduction = bags["patch_reduction"]
        patch_axes = PrincipalAxes({k[len(PATCH_AXES_KEY):]: state.pop(k).numpy() for k in list(state)
                                    if k.startswith(PATCH_AXES_KEY)},
                                   {m: float(r["variance_share"]) for m, r in reduction.items()})
        patches = PatchTransform(Standardizer.from_dict(bags["patch_standardization"]), patch_axes,
                                 bool(bags.get("center", False)))
        tabular = {m: d for m, d in widths.items() if m not in bags["modalities"]}
        network = build_network(cfg["arch"], axes.widths(tabular), patches.widths(), list(cfg["modalities"]),
                                int(bags["dim"]), int(bags["attention"]), cfg["hyper"], bool(bags.get("mean", False)),
                                int(bags.get("heads", 1)))
        return network, {"bag_modalities": list(bags["modalities"]), "patches": patches}


def attention_table(model: MILFittedModel, cohort: Cohort) -> "Any":
    """Every patch's attention weight for the patients of ``cohort``: a DataFrame with ``patient_id``,
    ``modality``, ``patch`` (index in the bag), ``weight``, ``x``, ``y`` (level-0 coordinates, NaN
    without them) and ``slide`` (empty without slide names)."""
    import pandas as pd

    _, weights = model.embed(model_inputs(model, cohort), attention=True)
    frames = []
    for m, per_patient in weights.items():
        bags = cohort.bags[m]
        for a, w in enumerate(per_patient):
            coords = bags.coords(a)
            slides = bags.slide_of_patch(a)
            frames.append(pd.DataFrame({
                "patient_id": cohort.ids[a], "modality": m, "patch": np.arange(len(w)), "weight": w,
                "x": np.nan if coords is None else coords[:, 0], "y": np.nan if coords is None else coords[:, 1],
                "slide": "" if slides is None else slides.astype(str)}))
    return pd.concat(frames, ignore_index=True)


def model_inputs(model: Any, cohort: Cohort) -> dict[str, Any]:
    """What ``model`` is called on for the patients of ``cohort``: the raw arrays, with the BagSet of each
    bag modality the model encodes (attention-MIL models); every other model reads pooled vectors."""
    bag_modalities = getattr(model, "bag_modalities", None) or []
    return {**cohort.X, **{m: cohort.bags[m] for m in bag_modalities}}


def fit_mil(cohort: Cohort, arch: str, seed: int, settings: TrainSettings) -> MILFittedModel:
    """Train ``arch`` with attention-MIL encoders for its bag modalities (module docstring)."""
    from ..survival import BreslowBaseline, cox_nll
    from .fit import validation_split

    hyper = settings.hyper
    if resolve_hyper(arch, **hyper).get("skip") == "cox":
        raise IntersurvError(f"architecture {arch!r}: skip='cox' is not available with bags (attention MIL); "
                             f"use skip='zero' or the pooled vector ({arch}@pooled)")
    used = model_modalities(arch, cohort.modality_names)
    bag_mods = [m for m in used if cohort.kinds.get(m) == "bags"]
    tab = [m for m in used if m not in bag_mods]
    for m in bag_mods:
        check_bags(cohort.bags[m], cohort.ids, m)
    train_idx, val_idx = validation_split(cohort, settings.val_fraction, seed)
    train, val = cohort.subset(train_idx), cohort.subset(val_idx)
    transform = (settings.transform if isinstance(settings.transform, str)
                 else {m: t for m, t in settings.transform.items() if m in tab})
    raw_train = {m: train.modalities[m] for m in tab}
    standardizer = Standardizer.fit(raw_train, transform)
    axes = PrincipalAxes.fit(standardizer.transform(raw_train), settings.reduce)
    rng = np.random.default_rng(derive_seed(BAG_PATCHES, seed))
    patches = PatchTransform.fit({m: train.bags[m] for m in bag_mods}, settings.bag_reduce, rng,
                                 settings.bag_center)
    dev = resolve_device(settings.device)
    parts = {"train": train, "val": val}
    reduced = {p: {m: patches.reduce(m, c.bags[m]) for m in bag_mods} for p, c in parts.items()}
    x = {p: {m: torch.from_numpy(v).to(dev) for m, v in axes.transform(standardizer.transform(
        {m: c.modalities[m] for m in tab})).items()} for p, c in parts.items()}
    t = {p: torch.from_numpy(c.time) for p, c in parts.items()}
    e = {p: torch.from_numpy(c.event.astype(bool)) for p, c in parts.items()}
    n, ties = train.n_patients, settings.ties
    batch_size = MIL_BATCH_SIZE if settings.batch_size is None else settings.batch_size

    def log_risk(part: str) -> torch.Tensor:
        emb = {m: torch.from_numpy(encode_bags(network, m, np.array([len(r) for r in reduced[part][m]]),
                                               reduced[part][m].__getitem__, dev)[0]).to(dev) for m in bag_mods}
        return network.head_forward({**x[part], **emb})

    def batch_losses(epoch: int):
        if batch_size >= n:
            batches = [torch.arange(n)]
        else:
            batches = list(torch.randperm(n, generator=order_rng).split(batch_size))
        for b in batches:
            if not e["train"][b].any():
                yield None
                continue
            bags = {m: tuple(v.to(dev) for v in padded(reduced["train"][m], b.numpy(), settings.bag_patches, rng))
                    for m in bag_mods}
            yield cox_nll(network({m: v[b] for m, v in x["train"].items()}, bags), t["train"][b], e["train"][b],
                          ties=ties)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(arch, axes.widths({m: cohort.widths()[m] for m in tab}), patches.widths(), used,
                                settings.bag_dim, settings.bag_attention, hyper, settings.bag_mean,
                                settings.bag_heads).to(dev)
        optimiser = torch.optim.Adam([
            {"params": network.head.parameters(), "weight_decay": settings.weight_decay},
            {"params": network.encoders.parameters(), "weight_decay": settings.bag_weight_decay}], lr=settings.lr)
        order_rng = torch.Generator().manual_seed(seed)
        history, best_epoch = train_epochs(
            network, optimiser, batch_losses, lambda: cox_nll(log_risk("val"), t["val"], e["val"], ties=ties),
            max_epochs=settings.max_epochs, patience=settings.patience, what=arch, lr=settings.lr)
    network.eval()
    with torch.no_grad():
        train_log_risk = log_risk("train").double().cpu().numpy()
    return MILFittedModel(
        arch=arch, modalities=used, widths={m: cohort.widths()[m] for m in used}, hyper=network.hyper,
        module=network, standardizer=standardizer, axes=axes,
        baseline=BreslowBaseline.fit(train_log_risk, train.time, train.event), train_ids=train.ids.tolist(),
        val_ids=val.ids.tolist(), history=history, best_epoch=best_epoch,
        settings={"seed": seed, **settings.options()}, reference={m: train.modalities[m] for m in used},
        bag_modalities=bag_mods, patches=patches)
