"""Architectures by name: :data:`ARCHITECTURES`, :func:`build_model`, :func:`count_parameters`.

Names: ``unimodal:<modality>``, ``early``, ``late``, ``cross_attention``,
``bilinear``, ``gated``, ``kronecker`` (docs/design.md section 4), and the linear
reference models ``linear:<modality>`` and ``clinical`` (a linear Cox model on
the modality named :data:`CLINICAL_MODALITY`, the covariates, or on the
cohort's covariates when they are no modality: :func:`model_cohort`; see
:mod:`intersurv.training.linear`). Every model maps a
dict of (N, d_m) float32 tensors, keyed by modality name, to an (N,) log-risk;
its modality order is fixed when it is built (the order of ``widths``).

Hyperparameters are keyword arguments of :func:`build_model`; each architecture
accepts only its own (see ``ARCHITECTURES[name].defaults()``):

* ``hidden`` - hidden layer widths (an int or a list); the last one is the
  per-modality embedding width of the fusion architectures;
* ``dropout`` - dropout probability in [0, 1);
* ``rank`` (bilinear), ``tokens`` / ``dim`` / ``heads`` (cross_attention),
  ``kron_dim`` (kronecker) - see each architecture's module;
* ``skip`` (every network, not the linear models) - ``"none"``, or a linear
  Cox term on the inputs added to the network's log-risk, initialised at zero
  (``"zero"``) or at the penalised linear Cox of the training part (``"cox"``);
  see :mod:`intersurv.models.wide`.

**Bag modalities** (whole-slide images as bags of patch features,
``cohort.kinds[m] == "bags"``): a network that uses one is by default a
multiple-instance model, an attention-MIL encoder per bag modality in front of
the architecture (:mod:`.mil`, trained by :mod:`intersurv.training.mil_fit`).
The suffix :data:`POOLED_SUFFIX` (``unimodal:wsi@pooled``, ``late@pooled``)
names the same architecture on the bags' pooled mean vector instead, so one
audit can compare the two on the same patients. The linear references always
use the pooled vector.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ..cohort import Cohort
from ..errors import IntersurvError
from .attention import CrossAttentionFusion
from .bilinear import BilinearFusion
from .early import EarlyFusion
from .gated import GatedFusion
from .kronecker import KroneckerFusion
from .late import LateFusion
from .linear import LinearCox
from .wide import SKIP_MODES, WideAndDeep

#: The modality that holds a cohort's clinical covariates (``Cohort.with_covariates_modality``).
CLINICAL_MODALITY = "clinical"
#: The default ``skip`` of the networks (:mod:`intersurv.models.wide`).
DEFAULT_SKIP = "none"
#: Suffix of an architecture name: use the bag modalities' pooled mean vectors, not attention MIL.
POOLED_SUFFIX = "@pooled"
#: Architectures whose name is ``<kind>:<modality>``.
PER_MODALITY = ("unimodal", "linear")


@dataclass(frozen=True)
class Architecture:
    """A registered architecture: its module class and how many modalities it needs."""

    name: str
    cls: type[nn.Module]
    min_modalities: int
    summary: str

    def defaults(self) -> dict[str, Any]:
        """The hyperparameters it accepts, with their default values."""
        params = inspect.signature(self.cls.__init__).parameters.values()
        out = {p.name: _normalise("", p.name, p.default) for p in params if p.kind is p.KEYWORD_ONLY}
        return out if self.cls is LinearCox else {**out, "skip": DEFAULT_SKIP}


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("unimodal", EarlyFusion, 1, "one modality -> MLP (name it unimodal:<modality>)"),
        Architecture("early", EarlyFusion, 2, "concatenate the modalities -> MLP"),
        Architecture("late", LateFusion, 2, "sum of per-modality log-risk MLPs (additive)"),
        Architecture("cross_attention", CrossAttentionFusion, 2,
                     "tokens of each modality attend to the other modalities' tokens"),
        Architecture("bilinear", BilinearFusion, 2, "main-effect branches + pairwise low-rank bilinear terms"),
        Architecture("gated", GatedFusion, 2, "sigmoid gates conditioned on all modalities"),
        Architecture("kronecker", KroneckerFusion, 2, "outer product of reduced embeddings with an appended 1"),
        Architecture("linear", LinearCox, 1, "penalised linear Cox on one modality (name it linear:<modality>)"),
        Architecture("clinical", LinearCox, 1, f"penalised linear Cox on the {CLINICAL_MODALITY!r} modality"),
    )
}

_POSITIVE_INTS = ("rank", "tokens", "dim", "heads", "kron_dim")


def _normalise(arch: str, key: str, value: Any) -> Any:
    """Check one hyperparameter and return it in canonical (JSON-able) form."""
    where = f"architecture {arch!r}: " if arch else ""

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if key == "hidden":
        widths = [value] if is_int(value) else list(value) if isinstance(value, (list, tuple)) else None
        if not widths or not all(is_int(w) and w >= 1 for w in widths):
            raise IntersurvError(f"{where}hidden must be a positive integer or a non-empty list of them, "
                                 f"got {value!r}")
        return [int(w) for w in widths]
    if key == "dropout":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise IntersurvError(f"{where}dropout must be a number in [0, 1), got {value!r}")
        return float(value)
    if key == "skip":
        if value not in SKIP_MODES:
            raise IntersurvError(f"{where}skip must be one of {', '.join(SKIP_MODES)}, got {value!r}")
        return str(value)
    if key in _POSITIVE_INTS:
        if not is_int(value) or value < 1:
            raise IntersurvError(f"{where}{key} must be a positive integer, got {value!r}")
        return int(value)
    raise AssertionError(f"hyperparameter {key!r} has no check")  # a new one was added without a rule


def resolve_hyper(arch: str, **hyper: Any) -> dict[str, Any]:
    """The full, checked hyperparameters of ``arch``: the defaults updated by ``hyper``."""
    spec = _spec(arch)
    resolved = spec.defaults()
    unknown = sorted(set(hyper) - set(resolved))
    if unknown:
        raise IntersurvError(f"architecture {arch!r} has no hyperparameter {unknown[0]!r} "
                             f"(it takes {', '.join(resolved)})")
    resolved.update({k: _normalise(arch, k, v) for k, v in hyper.items()})
    if "heads" in resolved and resolved["dim"] % resolved["heads"]:
        raise IntersurvError(f"architecture {arch!r}: dim {resolved['dim']} is not divisible by "
                             f"heads {resolved['heads']}")
    return resolved


def is_linear(arch: str) -> bool:
    """Whether ``arch`` is a linear reference model (fitted by :mod:`intersurv.training.linear`)."""
    return arch == "clinical" or arch.startswith("linear:")


def is_pooled(arch: str) -> bool:
    """Whether ``arch`` names a network on the pooled vectors of bag modalities (:data:`POOLED_SUFFIX`)."""
    return arch.endswith(POOLED_SUFFIX)


def base_architecture(arch: str) -> str:
    """``arch`` without :data:`POOLED_SUFFIX`."""
    return arch[: -len(POOLED_SUFFIX)] if is_pooled(arch) else arch


def _spec(arch: str) -> Architecture:
    given, arch = arch, base_architecture(arch)
    base = arch.split(":", 1)[0] if arch.startswith(tuple(f"{p}:" for p in PER_MODALITY)) else arch
    if base not in ARCHITECTURES or arch in PER_MODALITY:
        names = ", ".join(f"{a}:<modality>" if a in PER_MODALITY else a for a in ARCHITECTURES)
        raise IntersurvError(f"unknown architecture {given!r} (known: {names}; a network may end in "
                             f"{POOLED_SUFFIX})")
    if given != arch and ARCHITECTURES[base].cls is LinearCox:
        raise IntersurvError(f"architecture {given!r}: the linear references always use the pooled vector; "
                             f"name it {arch!r}")
    return ARCHITECTURES[base]


def model_modalities(arch: str, modalities: list[str]) -> list[str]:
    """The modalities (in order) that ``arch`` uses out of those available."""
    spec = _spec(arch)
    arch = base_architecture(arch)
    if spec.name == "clinical" and CLINICAL_MODALITY not in modalities:
        raise IntersurvError(f"architecture 'clinical' needs the covariates as modality {CLINICAL_MODALITY!r} "
                             f"(has {', '.join(modalities)}; set covariates_as_modality)")
    if spec.name == "clinical":
        return [CLINICAL_MODALITY]
    if spec.name in PER_MODALITY:
        m = arch.split(":", 1)[1]
        if m not in modalities:
            raise IntersurvError(f"architecture {arch!r}: no modality {m!r} (has {', '.join(modalities)})")
        return [m]
    if len(modalities) < spec.min_modalities:
        raise IntersurvError(f"architecture {arch!r} needs at least {spec.min_modalities} modalities, "
                             f"got {len(modalities)} ({', '.join(modalities)})")
    return list(modalities)


def clinical_reads_covariates(cohort: Cohort) -> bool:
    """Whether ``clinical`` can read ``cohort``'s covariates directly (:func:`model_cohort`): the cohort has
    no modality :data:`CLINICAL_MODALITY` but covariates, every one numeric with a value for every patient."""
    cov = cohort.covariates
    if CLINICAL_MODALITY in cohort.modalities or cov is None or cov.shape[1] == 0:
        return False
    numeric = all(pd.api.types.is_numeric_dtype(cov[c]) and not pd.api.types.is_bool_dtype(cov[c])
                  for c in cov.columns)
    return numeric and bool(np.isfinite(cov.to_numpy(dtype=np.float64)).all())


def model_cohort(cohort: Cohort, arch: str) -> Cohort:
    """The cohort ``arch`` is fitted, evaluated and explained on: ``cohort`` itself, except that
    ``clinical`` on a cohort without modality :data:`CLINICAL_MODALITY` reads the covariates as that
    modality (:meth:`Cohort.with_covariates_modality`), for this model only: the other models do not see
    them, and the clinical model is explained over the cohort's modalities plus ``clinical``, where it is
    additive (it reads one player), like ``linear:<m>``."""
    if arch != "clinical" or CLINICAL_MODALITY in cohort.modalities:
        return cohort
    return cohort.with_covariates_modality(CLINICAL_MODALITY)


def expand_architectures(names: list[str], modalities: list[str]) -> list[str]:
    """``unimodal`` and ``linear`` -> one ``<name>:<m>`` per modality; other names as they are.

    ``linear`` skips the covariates modality when ``clinical`` (the same model) is also named.
    """
    out: list[str] = []
    for a in names:
        if a not in PER_MODALITY:
            out.append(a)
            continue
        out += [f"{a}:{m}" for m in modalities
                if not (a == "linear" and m == CLINICAL_MODALITY and "clinical" in names)]
    return out


def build_model(arch: str, widths: dict[str, int], **hyper: Any) -> nn.Module:
    """A freshly initialised ``arch`` over the modalities of ``widths`` (name -> feature count).

    ``unimodal:<m>`` and ``linear:<m>`` use only modality m, ``clinical`` only
    the covariates; every other architecture uses all of
    ``widths``, in its order. A network with ``skip`` other than ``"none"`` is
    a :class:`~intersurv.models.wide.WideAndDeep` around the architecture's
    module. The module gets attributes ``arch``, ``hyper``
    (the resolved hyperparameters) and ``modalities``. Initialisation draws from
    torch's global generator: seed it first for a reproducible model.
    """
    for m, d in widths.items():
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise IntersurvError(f"modality {m!r}: width must be a positive integer, got {d!r}")
    used = model_modalities(arch, list(widths))
    resolved = resolve_hyper(arch, **hyper)
    own = {k: v for k, v in resolved.items() if k != "skip"}
    module = _spec(arch).cls({m: widths[m] for m in used}, **own)
    if resolved.get("skip", "none") != "none":
        module = WideAndDeep(module, {m: widths[m] for m in used}, resolved["skip"])
    module.arch = arch
    module.hyper = resolved
    return module


def count_parameters(module: nn.Module) -> int:
    """The number of trainable scalars (sum of numel over parameters with requires_grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
