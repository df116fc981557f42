"""The run directory of an experiment: :class:`RunDir` and its :class:`Unit` s.

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
configuration resumes. The configuration itself is :mod:`.config`; the
fingerprint and versions it is recorded with, :mod:`.fingerprint`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..cohort import Cohort
from ..errors import IntersurvError
from ..io.atomic import write_json_atomic
from ..positions import positions
from .config import ExperimentConfig, ProtocolConfig, unit_dir_arch, unit_name
from .fingerprint import cohort_fingerprint, package_versions

if TYPE_CHECKING:
    from .fitted import FittedModel

__all__ = ["IN_RUN_COHORT", "ExperimentConfig", "ProtocolConfig", "RunDir", "Unit", "cohort_fingerprint",
           "load_config_cohort", "unit_dir_arch", "unit_name"]

#: Directory (inside the run directory) of a cohort that was given in memory.
IN_RUN_COHORT = "cohort"


#: Dotted prefix of the attention-MIL settings in config.json (unused without bags).
BAG_SETTINGS = "experiment.train.bag_"


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
        from ..models import model_cohort
        from .fitted import FittedModel

        cohort = model_cohort(self.run.load_cohort(), self.arch)
        pos = positions(cohort.ids, self.split["train"], what=f"{self.path / 'split.json'}: training patient")
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
        version is reported (as a log line), since it may change results. The
        attention-MIL settings (``train.bag_*``) are not compared for a cohort without
        bags, where they change nothing: a run started before a version added one
        resumes (its config.json is left as it was).
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
            diff = [k for k in _flat_diff(old_cmp, fresh) if cohort.bags or not k.startswith(BAG_SETTINGS)]
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
    from ..datasets import load_cohort, resolve_cohort_source

    source = resolve_cohort_source(config.cohort, relative_to=run_path)
    cohort = load_cohort(source, drop_incomplete=config.drop_incomplete, allow_missing=config.allow_missing)
    if config.modalities is not None:
        cohort = cohort.select_modalities(list(config.modalities))
    return cohort
