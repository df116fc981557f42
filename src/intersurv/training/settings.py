"""How a model is trained: :class:`TrainSettings`, the one home of every default and check.

The keyword arguments of :func:`intersurv.fit` (the protocol is in its module
docstring), the ``[train]`` table of a configuration file and ``--param KEY=VALUE``
on the command line are all this object: its defaults are defined here and
every value is checked here, when the settings are built, so a mistake is
reported before a run directory is written.

* ``val_fraction``: share of the patients set aside for early stopping, in (0, 1);
* ``lr``, ``weight_decay``: Adam's learning rate (> 0) and L2 penalty (>= 0);
* ``max_epochs``, ``patience``: epoch cap and early-stopping patience (>= 1). Early
  stopping decides when training ends; the cap is a safety net. With the whole
  training part per step (``batch_size=None``) an epoch is one Adam step of about
  ``lr`` per weight, so the epochs a network needs grow as its input narrows: best
  epoch 2-26 on glioma-sim's 3,048 raw features, up to 710 on its 5 + 5 principal
  components (``reduce="auto"``), up to 335 on TCGA-GBMLGG's cnv, mut and covariates
  (30, 16, 3 features). At the former cap of 200, 27 of 280 fits on glioma-sim and
  the three TCGA tables stopped at the cap; at 1000 none (``validation/convergence.py``,
  ``docs/validation.md``). A fit that stops by patience before the cap is the same
  whatever the cap;
* ``batch_size``: patients per step, ``None`` for the whole training part (else >= 2); an
  attention-MIL model takes ``None`` as 64 patients (:data:`intersurv.training.mil_fit.MIL_BATCH_SIZE`);
* ``ties``: ``efron`` or ``breslow`` (the Cox partial likelihood's handling of tied times);
* ``reduce``: ``"none"``, ``"auto"`` or a number of principal components
  (:mod:`intersurv.training.pca`);
* ``transform``: the input transform of every modality (``standardize``,
  ``clip`` or ``rank_normal``), or a table modality -> transform
  (:mod:`intersurv.training.standardize`);
* ``l1_ratio``, ``inner_folds``: the elastic-net mix and the inner CV folds of the
  linear reference models ``linear:<m>`` and ``clinical`` (:mod:`intersurv.training.linear`);
* ``device``: ``auto`` (a GPU when torch sees one), ``cpu``, ``cuda`` or
  ``cuda:N`` (:mod:`intersurv.training.device`);
* ``bag_patches``, ``bag_reduce``, ``bag_dim``, ``bag_attention``, ``bag_heads``, ``bag_center``, ``bag_mean``:
  the attention-MIL
  encoder of a bag modality (:mod:`intersurv.training.mil_fit`; unused without bags):
  patches sampled per patient per training step (``None``: all), the principal
  components kept of the standardised patch features (``"none"``, ``"auto"`` or a
  number), the embedding width D per head, the attention width L and the number of attention
  heads H (:mod:`intersurv.models.mil`),
  whether each bag's mean patch is subtracted first, and whether the embedding carries the
  bag's mean projected patch beside the attention-pooled one (the bag-mean branch);
* ``bag_weight_decay``: Adam's L2 penalty (>= 0) on the attention-MIL encoders' weights
  (``weight_decay`` is the fusion head's): a penalty ten times the head's
  keeps the encoder from fitting the training patients before the attention has found the
  few informative patches (``docs/validation.md``, issue 21);
* ``hyper``: the architecture's hyperparameters (``hidden``, ``dropout``,
  ``rank``, ...), checked per architecture by :meth:`TrainSettings.check_architecture`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntersurvError

TIES = ("efron", "breslow")
#: What ``device`` accepts (plus ``cuda:N``); :func:`intersurv.training.device.resolve_device` maps it.
DEVICES = ("auto", "cpu", "cuda")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_reduce(reduce: Any) -> None:
    """A one-line error unless ``reduce`` is ``"auto"``, ``"none"`` or a positive integer."""
    if not (reduce in ("auto", "none") or (_is_int(reduce) and reduce >= 1)):
        raise IntersurvError(f"reduce must be 'auto', 'none' or a positive integer (got {reduce!r})")


def check_device(device: Any) -> None:
    """A one-line error unless ``device`` is one of :data:`DEVICES` or ``"cuda:N"``."""
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise IntersurvError(f"device must be one of {', '.join(DEVICES)} or cuda:N (got {device!r})")


def check_linear_options(l1_ratio: float, inner_folds: int) -> None:
    """One-line errors for out-of-range options of the linear reference models."""
    if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float)) or not 0.0 < l1_ratio <= 1.0:
        raise IntersurvError(f"l1_ratio must be a number in (0, 1] (got {l1_ratio!r})")
    if isinstance(inner_folds, bool) or not isinstance(inner_folds, int) or inner_folds < 2:
        raise IntersurvError(f"inner_folds must be an integer >= 2 (got {inner_folds!r})")


@dataclass(frozen=True)
class TrainSettings:
    """The training settings (module docstring); invalid values raise :class:`IntersurvError`."""

    val_fraction: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 1000
    patience: int = 20
    batch_size: int | None = None
    ties: str = "efron"
    reduce: str | int = "none"
    transform: str | dict[str, str] = "rank_normal"
    l1_ratio: float = 0.5
    inner_folds: int = 5
    device: str = "auto"
    bag_patches: int | None = 256
    bag_reduce: str | int = 64
    bag_dim: int = 64
    bag_attention: int = 32
    bag_heads: int = 2
    bag_center: bool = True
    bag_mean: bool = True
    bag_weight_decay: float = 1e-3
    hyper: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _is_number(self.val_fraction) or not 0.0 < self.val_fraction < 1.0:
            raise IntersurvError(f"val_fraction must be between 0 and 1 (got {self.val_fraction!r})")
        if not _is_number(self.lr) or self.lr <= 0:
            raise IntersurvError(f"lr must be a positive number (got {self.lr!r})")
        for key in ("weight_decay", "bag_weight_decay"):
            if not _is_number(getattr(self, key)) or getattr(self, key) < 0:
                raise IntersurvError(f"{key} must be a number >= 0 (got {getattr(self, key)!r})")
        for key in ("max_epochs", "patience"):
            if not _is_int(getattr(self, key)) or getattr(self, key) < 1:
                raise IntersurvError(f"{key} must be a positive integer (got {getattr(self, key)!r})")
        if self.batch_size is not None and (not _is_int(self.batch_size) or self.batch_size < 2):
            raise IntersurvError(f"batch_size must be None (full batch) or an integer >= 2 "
                                 f"(got {self.batch_size!r})")
        if self.ties not in TIES:
            raise IntersurvError(f"ties must be one of {', '.join(TIES)} (got {self.ties!r})")
        check_reduce(self.reduce)
        from .standardize import transform_per_modality

        if isinstance(self.transform, Mapping):
            object.__setattr__(self, "transform", {str(m): t for m, t in self.transform.items()})
        transform_per_modality(self.transform, [], list(self.transform) if isinstance(self.transform, dict) else None)
        check_linear_options(self.l1_ratio, self.inner_folds)
        check_device(self.device)
        if self.bag_patches is not None and (not _is_int(self.bag_patches) or self.bag_patches < 1):
            raise IntersurvError(f"bag_patches must be None (every patch) or a positive integer "
                                 f"(got {self.bag_patches!r})")
        try:
            check_reduce(self.bag_reduce)
        except IntersurvError as exc:
            raise IntersurvError(f"bag_{exc}") from None
        for key in ("bag_center", "bag_mean"):
            if not isinstance(getattr(self, key), bool):
                raise IntersurvError(f"{key} must be true or false (got {getattr(self, key)!r})")
        for key in ("bag_dim", "bag_attention", "bag_heads"):
            if not _is_int(getattr(self, key)) or getattr(self, key) < 1:
                raise IntersurvError(f"{key} must be a positive integer (got {getattr(self, key)!r})")
        object.__setattr__(self, "hyper", dict(self.hyper))

    def check_architecture(self, arch: str) -> None:
        """Raise unless ``arch`` exists and takes every one of :attr:`hyper` with valid values.

        The linear reference models take no hyperparameters: the networks' do not apply to them.
        """
        from ..models.registry import is_linear, resolve_hyper

        resolve_hyper(arch, **({} if is_linear(arch) else self.hyper))

    def options(self) -> dict[str, Any]:
        """The settings other than :attr:`hyper`, as :func:`intersurv.fit` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hyper"}

    def to_dict(self) -> dict[str, Any]:
        """Every keyword argument of :func:`intersurv.fit`, defaults included (the ``[train]`` table's form)."""
        return {**self.options(), **self.hyper}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "train") -> "TrainSettings":
        """Build from the flat ``[train]`` form: keys that are not fields are model hyperparameters."""
        if not isinstance(data, dict):
            raise IntersurvError(f"{source}: must be a table")
        names = {f.name for f in dataclasses.fields(cls)} - {"hyper"}
        try:
            return cls(**{k: v for k, v in data.items() if k in names},
                       hyper={k: v for k, v in data.items() if k not in names})
        except IntersurvError as exc:
            raise IntersurvError(f"{source}: {exc}") from None


#: The defaults, for function signatures and help texts.
DEFAULT_TRAIN = TrainSettings()
