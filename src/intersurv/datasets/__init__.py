"""Built-in cohorts, by name, and :func:`load_cohort` for names and directories.

Each built-in is a zero-argument loader returning a :class:`~intersurv.Cohort`;
nothing is downloaded: the data ships with intersurv or with a package it
depends on.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..cohort import Cohort
from ..errors import CohortError


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    description: str
    loader: str  # "module:function", imported on first use

    def load(self) -> Cohort:
        module, func = self.loader.split(":")
        fn: Callable[[], Cohort] = getattr(importlib.import_module(module), func)
        return fn()


BUILTINS: dict[str, BuiltinDataset] = {
    d.name: d
    for d in (
        BuiltinDataset(
            "glioma-sim",
            "simulated glioma-like cohort with known interaction (n=575; wsi 2048-d, rna)",
            "intersurv.datasets.simulate:glioma_sim",
        ),
        BuiltinDataset(
            "glioma-bags",
            "simulated glioma-like cohort with WSI bags (n=575; 200-2,000 patches x 768 per patient, 5 % "
            "informative; rna); bags drawn once into ~/.cache/intersurv (~1.9 GB)",
            "intersurv.datasets.simulate:glioma_bags",
        ),
        BuiltinDataset(
            "breast-cancer",
            "GSE7390 breast cancer (n=198, scikit-survival): rna (76 genes), clinical (age, er, grade, size)",
            "intersurv.datasets.breast_cancer:load_breast_cancer",
        ),
        BuiltinDataset(
            "nki70",
            "NKI breast cancer (n=144, SurvSet, [datasets] extra): clinical, expression (70 genes)",
            "intersurv.datasets.survset:load_nki70",
        ),
        BuiltinDataset(
            "gse4335",
            "GSE4335 breast cancer (n=115, SurvSet, [datasets] extra): clinical, expression (~12,800 genes)",
            "intersurv.datasets.survset:load_gse4335",
        ),
    )
}


def list_datasets() -> list[BuiltinDataset]:
    """The built-in cohorts, in registry order."""
    return list(BUILTINS.values())


def resolve_cohort_source(source: str | Path, *, relative_to: str | Path | None = None) -> str:
    """What ``source`` names: a built-in cohort's name as is, else a path made absolute.

    A relative path is relative to ``relative_to`` (default: the working
    directory); an existing path wins over a built-in of the same name. This is
    the one place that decides "built-in name or path".
    """
    key = str(source)
    base = Path(relative_to) if relative_to is not None else Path.cwd()
    path = base / Path(key).expanduser()
    if key in BUILTINS and not path.exists():
        return key
    return str(path.resolve())


def load_cohort(source: str | Path, *, drop_incomplete: bool = False, allow_missing: bool = False) -> Cohort:
    """Load a cohort from a built-in name (see ``intersurv datasets list``) or a cohort directory."""
    key = resolve_cohort_source(source)
    if key in BUILTINS:
        return BUILTINS[key].load()
    path = Path(source)
    if path.is_dir():
        from ..io.cohort_dir import read_cohort_dir

        return read_cohort_dir(path, drop_incomplete=drop_incomplete, allow_missing=allow_missing)
    raise CohortError(
        f"{source}: not a cohort directory nor a built-in cohort (built-ins: {', '.join(BUILTINS)})"
    )
