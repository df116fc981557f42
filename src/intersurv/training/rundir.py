"""The run directory of an experiment, and the resolved configuration it holds.

Layout (docs/architecture.md)::

    RUN/config.json                     {"experiment": <ExperimentConfig.to_dict()>,
                                         "cohort_sha256": ..., "versions": {...}, "created": ...}
    RUN/cohort/                         only when the cohort was given in memory (a cohort directory)
    RUN/units/<arch>_s<seed>_f<fold>/   one unit = (architecture, seed, fold)
        model.safetensors, model.json   checkpoint (FittedModel.save)
        split.json                      {"train": [...], "val": [...], "test": [...]} patient ids
        predictions.csv                 patient_id, time, event, log_risk of the test patients
        result.json                     written last, atomically: the unit is done iff it exists

``<arch>`` in a directory name has every character outside ``[A-Za-z0-9._-]``
replaced by ``-`` (``unimodal:wsi`` -> ``unimodal-wsi``); :attr:`Unit.arch`
keeps the real name. Hold-out units have fold 0.

A run directory belongs to one configuration: opening it again with another
configuration (or another cohort: the SHA-256 of the cohort's ids, outcomes,
groups and modality arrays is part of it) is an
:class:`~intersurv.errors.IntersurvError` naming the differing keys; the same
configuration resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..cohort import Cohort
from ..errors import IntersurvError
from ..io.atomic import write_json_atomic

if TYPE_CHECKING:
    from .fitted import FittedModel

#: Packages whose versions are recorded in config.json.
VERSIONED_PACKAGES = ("numpy", "pandas", "scipy", "torch", "torchsurv", "scikit-survival", "lifelines")

#: Directory (inside the run directory) of a cohort that was given in memory.
IN_RUN_COHORT = "cohort"


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
    relative to the run directory; :func:`resolve_cohort_source` makes user
    paths absolute). ``architectures`` x ``seeds`` x the protocol's folds are
    the units; ``train`` is passed to :func:`intersurv.fit` as keyword
    arguments; ``modalities`` selects (and orders) modalities, all when None;
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
    train: dict[str, Any] = field(default_factory=dict)
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
        set_(self, "train", dict(self.train))
        set_(self, "extra", dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists for tuples) that :meth:`from_dict` reads back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

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
        for key in ("train", "extra"):
            if not isinstance(kwargs.get(key, {}), dict):
                raise IntersurvError(f"{source}: [{key}] must be a table")
        for key in ("cohort", "architectures", "seeds"):
            if key not in kwargs:
                raise IntersurvError(f"{source}: {key!r} is missing")
        return cls(**kwargs)

    def unit_keys(self) -> list[tuple[str, int, int]]:
        """The grid (arch, seed, fold) in execution order: seed, then fold, then architecture,
        so that an interrupted run has comparable results for every architecture."""
        return [(a, s, f) for s in self.seeds for f in self.protocol.fold_ids for a in self.architectures]


def resolve_cohort_source(source: str) -> str:
    """A built-in name as is; a path made absolute (the run must not depend on the cwd)."""
    from ..datasets import BUILTINS

    if source in BUILTINS and not Path(source).exists():
        return source
    return str(Path(source).expanduser().resolve())


def cohort_fingerprint(cohort: Cohort) -> str:
    """SHA-256 over ids, times, events, groups, modality names and arrays (as stored, float32)."""
    h = hashlib.sha256()

    def put(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    put("ids", "\x1f".join(cohort.ids.tolist()).encode())
    put("time", np.ascontiguousarray(cohort.time, dtype="<f8").tobytes())
    put("event", np.ascontiguousarray(cohort.event, dtype="<i1").tobytes())
    if cohort.group is not None:
        put("group", "\x1f".join(cohort.group.tolist()).encode())
    for m, x in cohort.modalities.items():
        put(f"modality {m} {x.shape}", np.ascontiguousarray(x, dtype="<f4").tobytes())
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python, intersurv and the libraries that shape the results."""
    import platform

    out = {"python": platform.python_version(), "intersurv": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def unit_dir_arch(arch: str) -> str:
    """The architecture as it appears in a unit's directory name."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", arch)


def unit_name(arch: str, seed: int, fold: int) -> str:
    return f"{unit_dir_arch(arch)}_s{seed}_f{fold}"


def _flat_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _flat_diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _get(d: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        d = d.get(key) if isinstance(d, dict) else None
    return d


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntersurvError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise IntersurvError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


@dataclass(frozen=True, eq=False)
class Unit:
    """One (architecture, seed, fold) of a run, living in ``run.path/units/<name>``."""

    run: "RunDir"
    arch: str
    seed: int
    fold: int

    @property
    def name(self) -> str:
        return unit_name(self.arch, self.seed, self.fold)

    @property
    def path(self) -> Path:
        return self.run.units_path / self.name

    @property
    def done(self) -> bool:
        return (self.path / "result.json").is_file()

    @cached_property
    def split(self) -> dict[str, list[str]]:
        """Patient ids: ``train`` (fitted on), ``val`` (early stopping), ``test`` (evaluated once)."""
        return _read_json(self.path / "split.json")

    @cached_property
    def result(self) -> dict[str, Any]:
        return _read_json(self.path / "result.json")

    def load_model(self) -> "FittedModel":
        """The unit's checkpoint, with ``reference`` = the raw modalities of its training patients."""
        from .fitted import FittedModel

        cohort = self.run.load_cohort()
        pos = pd.Index(cohort.ids).get_indexer(self.split["train"])
        if (pos < 0).any():
            raise IntersurvError(f"{self.path / 'split.json'}: training patient not in the cohort")
        model = FittedModel.load(self.path)
        model.reference = {m: cohort.modalities[m][pos] for m in model.modalities}
        return model


class RunDir:
    """A run directory; ``RunDir(path)`` opens an existing one (config.json must exist)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        cfg_path = self.path / "config.json"
        if not cfg_path.is_file():
            raise IntersurvError(f"{self.path}: not a run directory (no config.json)")
        self.raw: dict[str, Any] = _read_json(cfg_path)
        if not isinstance(self.raw, dict) or "experiment" not in self.raw:
            raise IntersurvError(f"{cfg_path}: no 'experiment' section")
        self.config = ExperimentConfig.from_dict(self.raw["experiment"], source=str(cfg_path))
        self._cohort: Cohort | None = None

    @classmethod
    def create(cls, path: str | Path, config: ExperimentConfig, cohort: Cohort) -> "RunDir":
        """Open ``path`` for ``config`` on ``cohort``: write config.json, or check it is the same.

        A different configuration or cohort is an :class:`IntersurvError` naming the
        differing keys; package versions are recorded but only a changed intersurv
        version is reported (as a log line), since it may change results.
        """
        path = Path(path)
        fresh = {
            "experiment": config.to_dict(),
            "cohort_sha256": cohort_fingerprint(cohort),
        }
        cfg_path = path / "config.json"
        if cfg_path.is_file():
            old = _read_json(cfg_path)
            old_cmp = {k: old.get(k) for k in fresh}
            diff = _flat_diff(old_cmp, fresh)
            if diff:
                shown = "; ".join(
                    f"{k.removeprefix('experiment.')}: {_short(_get(old_cmp, k))} -> {_short(_get(fresh, k))}"
                    for k in diff[:4])
                more = f"; +{len(diff) - 4} more" if len(diff) > 4 else ""
                raise IntersurvError(
                    f"{path}: run directory holds a different configuration (differs in: {shown}{more}); "
                    "use another --out, or the same options to resume"
                )
            run = cls(path)
            was = run.raw.get("versions", {}).get("intersurv")
            if was != __version__:
                logging.getLogger("intersurv").warning(
                    "%s was started with intersurv %s, resuming with %s", path, was, __version__)
            run._cohort = cohort
            return run
        path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cfg_path, {
            **fresh,
            "versions": package_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        run = cls(path)
        run._cohort = cohort
        return run

    @property
    def units_path(self) -> Path:
        return self.path / "units"

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.raw.get("versions", {}))

    def units(self) -> list[Unit]:
        """Every unit of the grid, in execution order."""
        return [Unit(self, a, s, f) for a, s, f in self.config.unit_keys()]

    def finished_units(self) -> list[Unit]:
        """The units whose result.json exists, in execution order."""
        return [u for u in self.units() if u.done]

    def load_cohort(self) -> Cohort:
        """The run's cohort re-loaded from the config (modality selection applied), checked
        against the recorded fingerprint."""
        if self._cohort is None:
            cohort = load_config_cohort(self.config, self.path)
            want = self.raw.get("cohort_sha256")
            if want is not None and cohort_fingerprint(cohort) != want:
                raise IntersurvError(
                    f"{self.path}: cohort {self.config.cohort!r} has changed since the run was made "
                    "(its data no longer match the recorded SHA-256)"
                )
            self._cohort = cohort
        return self._cohort


def load_config_cohort(config: ExperimentConfig, run_path: Path) -> Cohort:
    """Load ``config.cohort`` (built-in, absolute path, or path relative to the run directory)
    and apply ``config.modalities``."""
    from ..datasets import BUILTINS, load_cohort

    source = config.cohort
    if source not in BUILTINS and not Path(source).is_absolute():
        source = str(run_path / source)
    cohort = load_cohort(source, drop_incomplete=config.drop_incomplete, allow_missing=config.allow_missing)
    if config.modalities is not None:
        cohort = cohort.select_modalities(list(config.modalities))
    return cohort
