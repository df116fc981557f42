"""An experiment's configuration: :class:`ExperimentConfig` (and its :class:`ProtocolConfig`).

Everything that determines an experiment's results, as recorded in a run
directory's ``config.json`` (:mod:`.rundir`) and read back from it or from a
TOML file. The training settings are a :class:`~.settings.TrainSettings`,
stored with every default resolved, so that a run started under other
defaults is not resumed by mistake. :func:`unit_name` names the units of the grid.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import IntersurvError
from .settings import TrainSettings


@dataclass(frozen=True)
class ProtocolConfig:
    """``kind = "holdout"``: one stratified split per seed with ``test_fraction`` test patients;
    ``kind = "cv"``: stratified ``folds``-fold cross-validation per seed."""

    kind: str = "holdout"
    test_fraction: float = 0.2
    folds: int = 5

    def __post_init__(self) -> None:
        if self.kind not in ("holdout", "cv"):
            raise IntersurvError(f"protocol.kind must be 'holdout' or 'cv', not {self.kind!r}")
        if (isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, (int, float))
                or not 0.0 < self.test_fraction < 1.0):
            raise IntersurvError(f"protocol.test_fraction must be in (0, 1), not {self.test_fraction!r}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise IntersurvError(f"protocol.folds must be an integer >= 2, not {self.folds!r}")

    @property
    def fold_ids(self) -> list[int]:
        return list(range(self.folds)) if self.kind == "cv" else [0]


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that determines an experiment's results (``--jobs`` does not).

    ``cohort``: a built-in name or a cohort directory (a relative path is
    relative to the run directory; :func:`intersurv.datasets.resolve_cohort_source`
    makes user paths absolute). ``architectures`` x ``seeds`` x the protocol's
    folds are the units; every architecture must exist and take the model
    hyperparameters of ``train``, the :class:`~.settings.TrainSettings` passed
    to :func:`intersurv.fit` (a dict is read with :meth:`TrainSettings.from_dict`);
    ``modalities`` selects (and orders) modalities, all when None;
    ``drop_incomplete`` / ``allow_missing`` drop or keep patients absent from
    a modality table (:func:`intersurv.io.cohort_dir.read_cohort_dir`);
    ``stratify_group`` stratifies splits by ``cohort.group`` as well as by event;
    ``horizons`` are the metric horizons in the cohort's time unit (None: the
    defaults of :func:`intersurv.metrics.default_horizons`, per unit);
    ``threads``: torch threads per unit (floating-point results depend on it,
    which is why it is fixed here rather than derived from ``--jobs``);
    ``unit_step`` names the per-unit hook (``module:function``) and ``extra``
    holds its settings: both are part of the configuration.
    """

    cohort: str
    architectures: tuple[str, ...]
    seeds: tuple[int, ...]
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    modalities: tuple[str, ...] | None = None
    drop_incomplete: bool = False
    allow_missing: bool = False
    stratify_group: bool = True
    horizons: tuple[float, ...] | None = None
    threads: int = 1
    unit_step: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "architectures", tuple(str(a) for a in self.architectures))
        if not self.architectures:
            raise IntersurvError("no architectures given")
        dup = sorted({a for a in self.architectures if self.architectures.count(a) > 1})
        if dup:
            raise IntersurvError(f"architecture {dup[0]!r} is listed twice")
        names = [unit_dir_arch(a) for a in self.architectures]
        if len(set(names)) != len(names):
            raise IntersurvError(f"architectures {list(self.architectures)} collide as directory names")
        seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else ()
        if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                                for s in seeds):
            raise IntersurvError(f"seeds must be a non-empty list of integers >= 0, not {self.seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise IntersurvError(f"seeds {list(seeds)} contain duplicates")
        set_(self, "seeds", tuple(int(s) for s in seeds))
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise IntersurvError(f"threads must be an integer >= 1, not {self.threads!r}")
        if isinstance(self.protocol, dict):
            set_(self, "protocol", ProtocolConfig(**self.protocol))
        if self.modalities is not None:
            set_(self, "modalities", tuple(str(m) for m in self.modalities))
        if self.horizons is not None:
            set_(self, "horizons", tuple(float(h) for h in self.horizons))
        if isinstance(self.train, dict):
            set_(self, "train", TrainSettings.from_dict(self.train))
        for arch in self.architectures:
            self.train.check_architecture(arch)
        set_(self, "extra", dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists for tuples) that :meth:`from_dict` reads back."""
        data = {**dataclasses.asdict(self), "train": self.train.to_dict()}
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "ExperimentConfig":
        """Build from a dict (a config.json section or a TOML file); unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise IntersurvError(f"{source}: unknown key {bad[0]!r} (known: {', '.join(sorted(known))})")
        kwargs = dict(data)
        proto = kwargs.get("protocol", {})
        if not isinstance(proto, dict):
            raise IntersurvError(f"{source}: [protocol] must be a table")
        pknown = {f.name for f in dataclasses.fields(ProtocolConfig)}
        bad = sorted(set(proto) - pknown)
        if bad:
            raise IntersurvError(f"{source}: unknown key protocol.{bad[0]} (known: {', '.join(sorted(pknown))})")
        kwargs["protocol"] = ProtocolConfig(**proto)
        if not isinstance(kwargs.get("extra", {}), dict):
            raise IntersurvError(f"{source}: [extra] must be a table")
        kwargs["train"] = TrainSettings.from_dict(kwargs.get("train", {}), source=f"{source}: [train]")
        for key in ("cohort", "architectures", "seeds"):
            if key not in kwargs:
                raise IntersurvError(f"{source}: {key!r} is missing")
        return cls(**kwargs)

    def unit_keys(self) -> list[tuple[str, int, int]]:
        """The grid (arch, seed, fold) in execution order: seed, then fold, then architecture,
        so that an interrupted run has comparable results for every architecture."""
        return [(a, s, f) for s in self.seeds for f in self.protocol.fold_ids for a in self.architectures]


def unit_dir_arch(arch: str) -> str:
    """The architecture as it appears in a unit's directory name."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", arch)


def unit_name(arch: str, seed: int, fold: int) -> str:
    return f"{unit_dir_arch(arch)}_s{seed}_f{fold}"
