"""FittedModel: a trained fusion network with everything needed to use it.

A FittedModel is the *model callable* of the internal contracts: called on a
dict of **raw** (unstandardised) modality arrays it returns (N,) float64
log-risks h(x). It holds

* the torch module (``arch``, ``hyper``, ``modalities`` it uses, ``widths``),
* the per-modality :class:`~intersurv.training.standardize.Standardizer`
  and :class:`~intersurv.training.pca.PrincipalAxes` fitted on its training
  patients (applied inside :meth:`predict_log_risk`),
* the Breslow baseline fitted on its training patients, for
  S(t|x) = S0(t)^exp(h(x)) (:meth:`predict_survival`),
* ``reference``: the raw training modalities (the interaction engine's default
  reference set), ``train_ids`` / ``val_ids`` (patients used for fitting and
  for early stopping), ``history`` (loss per epoch), ``best_epoch``.

:meth:`save` writes ``model.safetensors`` (weights, the principal axes
under keys ``input_axes/<modality>`` and the quantile knots of ``rank_normal``
inputs under ``input_knots/<modality>``) and ``model.json``
(everything else) atomically; :meth:`load` rebuilds the module from the JSON
and loads the weights with safetensors: nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import IntersurvError
from ..io.atomic import atomic_path, write_json_atomic
from ..models import build_model, count_parameters
from .pca import PrincipalAxes
from .standardize import Standardizer

if TYPE_CHECKING:
    from ..survival import BreslowBaseline

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
FORMAT = "intersurv-model"
FORMAT_VERSION = 2
#: Versions :meth:`FittedModel.load` reads (version 1 models have no principal axes).
READABLE_VERSIONS = (1, 2)
#: Prefix of the principal axes in the safetensors file ("/" never occurs in a parameter name).
AXES_KEY = "input_axes/"
#: Prefix of the rank_normal quantile knots in the safetensors file.
KNOTS_KEY = "input_knots/"

#: Rows per forward pass in :func:`predict_log_risk` are chosen so that one chunk
#: of standardised inputs holds about this many float32 values (64 MiB).
_CHUNK_VALUES = 1 << 24


def predict_log_risk(module: nn.Module, standardizer: Standardizer, axes: PrincipalAxes,
                     X: dict[str, np.ndarray]) -> np.ndarray:
    """h(x) for raw arrays ``X``: standardise, project, forward in eval mode without autograd (on the
    module's device), float64.

    Rows are processed in chunks, so N may be large (the interaction engine
    evaluates N x 2^M coalition rows). Only the modalities the model uses are read.
    """
    used = list(standardizer.mean)
    missing = [m for m in used if m not in X]
    if missing:
        raise IntersurvError(f"input has no modality {missing[0]!r} (the model uses {', '.join(used)})")
    rows = {m: len(X[m]) for m in used}
    if len(set(rows.values())) != 1:
        raise IntersurvError(f"input modalities have different numbers of rows: {rows}")
    n = rows[used[0]]
    width = sum(int(standardizer.mean[m].shape[0]) for m in used)
    step = max(1, _CHUNK_VALUES // width)
    out = np.empty(n, dtype=np.float64)
    device = next(module.parameters()).device
    module.eval()
    with torch.inference_mode():
        for start in range(0, n, step):
            z = axes.transform(standardizer.transform({m: X[m][start:start + step] for m in used}))
            h = module({m: torch.from_numpy(v).to(device) for m, v in z.items()})
            out[start:start + step] = h.double().cpu().numpy()
    return out


@dataclass(eq=False)
class FittedModel:
    """A trained model; see the module docstring. Build it with :func:`intersurv.fit` or :meth:`load`."""

    arch: str
    modalities: list[str]
    widths: dict[str, int]
    hyper: dict[str, Any]
    module: nn.Module = field(repr=False)
    standardizer: Standardizer = field(repr=False)
    axes: PrincipalAxes = field(repr=False)
    baseline: "BreslowBaseline" = field(repr=False)
    train_ids: list[str] = field(repr=False)
    val_ids: list[str] = field(repr=False)
    history: dict[str, list[float]] = field(repr=False)
    best_epoch: int
    #: the training settings (seed, lr, weight_decay, ...) as passed to fit, for the record
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    reference: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_params(self) -> int:
        """Trainable parameters of the network."""
        return count_parameters(self.module)

    def predict_log_risk(self, X: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) float64 log-risks h(x) for raw modality arrays ``X`` (name -> (N, d_m))."""
        return predict_log_risk(self.module, self.standardizer, self.axes, X)

    __call__ = predict_log_risk

    def predict_survival(self, X: dict[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        """(N, T) survival probabilities S(t|x) = exp(-H0(t) exp(h(x))) at ``times`` (cohort time unit)."""
        return self.baseline.survival(self.predict_log_risk(X), np.asarray(times, dtype=np.float64))

    # ------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into directory ``path`` (created if needed).

        The reference arrays are not saved (they are the training patients' data;
        pass them to :meth:`load`).
        """
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        weights.update({AXES_KEY + m: torch.from_numpy(a) for m, a in self.axes.axes.items()})
        weights.update({KNOTS_KEY + m: torch.from_numpy(np.ascontiguousarray(q))
                        for m, q in self.standardizer.knots.items()})
        weights.update(self._extra_weights())
        with atomic_path(path / WEIGHTS_FILE) as tmp:
            save_file(weights, str(tmp), metadata={"format": FORMAT})
        write_json_atomic(path / CONFIG_FILE, {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "arch": self.arch,
            "modalities": self.modalities,
            "widths": self.widths,
            "hyper": self.hyper,
            "n_params": self.n_params,
            "settings": self.settings,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "train_ids": self.train_ids,
            "val_ids": self.val_ids,
            "standardization": self.standardizer.to_dict(),
            "reduction": self.axes.summary(),
            "baseline": self.baseline.to_dict(),
            **self._extra_config(),
        })
        return path

    def _extra_weights(self) -> dict[str, torch.Tensor]:
        """More tensors for the weights file (a subclass's own state)."""
        return {}

    def _extra_config(self) -> dict[str, Any]:
        """More keys for ``model.json`` (a subclass's own settings)."""
        return {}

    @classmethod
    def _restore_module(cls, cfg: dict[str, Any], axes: PrincipalAxes, widths: dict[str, int],
                        state: dict[str, torch.Tensor]) -> tuple[nn.Module, dict[str, Any]]:
        """The untrained module of a saved model and the constructor's extra fields (a subclass
        takes its own tensors out of ``state``)."""
        return build_model(cfg["arch"], axes.widths(widths), **cfg["hyper"]), {}

    @classmethod
    def load(cls, path: str | Path, reference: dict[str, np.ndarray] | None = None) -> "FittedModel":
        """Rebuild a model saved by :meth:`save` (no unpickling); ``reference`` is attached as given."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from ..survival import BreslowBaseline

        path = Path(path)
        cfg_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
        for p in (cfg_path, weights_path):
            if not p.is_file():
                raise IntersurvError(f"{p}: no such file (not a saved intersurv model)")
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise IntersurvError(f"{cfg_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise IntersurvError(f"{cfg_path}: not an intersurv model file (format is not {FORMAT!r})")
        if cfg.get("version") not in READABLE_VERSIONS:
            raise IntersurvError(f"{cfg_path}: model format version {cfg.get('version')!r} is not supported "
                                 f"(this intersurv reads versions {', '.join(map(str, READABLE_VERSIONS))})")
        widths = {m: int(d) for m, d in cfg["widths"].items()}
        missing = [m for m in cfg["modalities"] if reference is not None and m not in reference]
        if missing:
            raise IntersurvError(f"{path}: the reference data has no modality {missing[0]!r}")
        try:
            state = load_file(str(weights_path))
        except SafetensorError as exc:
            raise IntersurvError(f"{weights_path}: unreadable safetensors file ({exc})") from None
        knots = {k[len(KNOTS_KEY):]: state.pop(k).numpy() for k in list(state) if k.startswith(KNOTS_KEY)}
        reduction = cfg.get("reduction", {})
        axes = PrincipalAxes({k[len(AXES_KEY):]: state.pop(k).numpy() for k in list(state) if k.startswith(AXES_KEY)},
                             {m: float(r["variance_share"]) for m, r in reduction.items()})
        if sorted(axes.axes) != sorted(reduction):
            raise IntersurvError(f"{weights_path}: principal axes do not match {cfg_path}")
        if "bags" in cfg:  # an attention-MIL model
            from .mil_fit import MILFittedModel

            cls = MILFittedModel
        module, extra = cls._restore_module(cfg, axes, widths, state)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise IntersurvError(f"{weights_path}: weights do not match {cfg_path} ({first})") from None
        module.eval()
        return cls(
            arch=cfg["arch"], modalities=list(cfg["modalities"]), widths=widths, hyper=module.hyper,
            module=module, standardizer=Standardizer.from_dict(cfg["standardization"], knots), axes=axes,
            baseline=BreslowBaseline.from_dict(cfg["baseline"]), train_ids=list(cfg["train_ids"]),
            val_ids=list(cfg["val_ids"]), history={k: list(v) for k, v in cfg["history"].items()},
            best_epoch=int(cfg["best_epoch"]), settings=dict(cfg.get("settings", {})), reference=reference,
            **extra,
        )
