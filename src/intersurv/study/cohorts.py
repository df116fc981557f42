"""The cohorts of a study: cohort directories, built-in names, or TCGA-layout tables imported on the fly.

A :class:`StudyCohort` names its source and, for a table file (the
MCAT/PORPOISE/SurvPath layout of :mod:`intersurv.io.tcga_table`), the options of
``intersurv datasets import``. A study TOML lists them under ``cohorts``, each a
source string or a table::

    [[cohorts]]
    source = "tcga_gbmlgg_all_clean.csv.zip"   # relative to the TOML file
    name = "GBMLGG"
    clinical = "tcga_gbmlgg_clinical.csv"
    covariates_as_modality = "clinical"
    drop_incomplete = true
    modality_suffix = { rnaseq = "rna" }

An imported table is kept in memory and stored inside its run directory
(``RUN/cohort``, like any in-memory cohort), so a resumed study checks that
the re-imported table is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cohort import Cohort
from ..errors import IntersurvError

#: Keys of a cohort table in a study TOML.
COHORT_KEYS = ("source", "name", "clinical", "modality_suffix", "missing_covariates", "drop_incomplete",
               "allow_missing", "covariates_as_modality")


@dataclass(frozen=True)
class StudyCohort:
    """One cohort of a study and how to load it (import options apply to a table file)."""

    source: str
    name: str | None = None
    clinical: str | None = None
    suffixes: Mapping[str, str] = field(default_factory=dict)
    missing_covariates: str | None = None
    drop_incomplete: bool = False
    allow_missing: bool = False
    covariates_as_modality: str | None = None

    @property
    def is_table(self) -> bool:
        """A table file to import (a cohort directory or a built-in name otherwise)."""
        return Path(self.source).is_file()

    def load(self) -> tuple[Cohort, str]:
        """The cohort and what its audit config names as cohort: the resolved source of a directory
        or built-in, ``""`` for an imported table (stored in the run directory)."""
        from ..datasets import load_cohort, resolve_cohort_source
        from ..io.tcga_table import import_tcga_table

        if self.is_table:
            cohort = import_tcga_table(self.source, clinical=self.clinical, suffixes=dict(self.suffixes),
                                       name=self.name, missing_covariates=self.missing_covariates or "impute",
                                       drop_incomplete=self.drop_incomplete).cohort
            if self.covariates_as_modality:
                cohort = cohort.with_covariates_modality(self.covariates_as_modality)
            return cohort, ""
        if self.clinical or self.suffixes or self.covariates_as_modality or self.missing_covariates:
            raise IntersurvError(f"cohort {self.source!r}: clinical, modality_suffix, missing_covariates and "
                                 "covariates_as_modality "
                                 "are import options of a table file (a cohort directory sets them in "
                                 "its cohort.toml)")
        source = resolve_cohort_source(self.source)
        return load_cohort(source, drop_incomplete=self.drop_incomplete, allow_missing=self.allow_missing), source


def dir_name(name: str) -> str:
    """A cohort name as a directory name: characters outside ``[A-Za-z0-9._-]`` become ``-``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".")
    return safe or "cohort"


def parse_suffixes(items: list[str] | Mapping[str, Any], where: str) -> dict[str, str]:
    """``["rnaseq=rna", ...]`` (the CLI) or ``{"rnaseq": "rna"}`` (TOML) -> ``{"rnaseq": "rna"}``."""
    pairs = ([(k, v, f"{k}={v}") for k, v in items.items()] if isinstance(items, Mapping)
             else [(*i.partition("=")[::2], i) for i in items])
    out: dict[str, str] = {}
    for suffix, name, item in pairs:
        suffix, name = str(suffix).strip().lstrip("_"), str(name).strip()
        if not suffix or not name:
            raise IntersurvError(f"{where} {item!r}: expected SUFFIX=NAME, e.g. rnaseq=rna")
        out[suffix] = name
    return out


def cohorts_from_toml(entries: Any, where: str, relative_to: Path) -> list[StudyCohort]:
    """The ``cohorts`` list of a study TOML (``where`` names the file in errors; relative paths are
    relative to ``relative_to``)."""
    if not isinstance(entries, list) or not entries:
        raise IntersurvError(f"{where}: 'cohorts' must be a non-empty list of sources or tables")
    from ..datasets import resolve_cohort_source

    out = []
    for i, entry in enumerate(entries):
        at = f"{where}: cohorts[{i}]"
        if isinstance(entry, str):
            entry = {"source": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
            raise IntersurvError(f"{at}: expected a source string or a table with a 'source' string")
        unknown = sorted(set(entry) - set(COHORT_KEYS))
        if unknown:
            raise IntersurvError(f"{at}: unknown key {unknown[0]!r} (known: {', '.join(COHORT_KEYS)})")
        for key in ("drop_incomplete", "allow_missing"):
            if not isinstance(entry.get(key, False), bool):
                raise IntersurvError(f"{at}: {key} must be true or false")
        for key in ("name", "covariates_as_modality", "clinical", "missing_covariates"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise IntersurvError(f"{at}: {key} must be a string")
        source = resolve_cohort_source(entry["source"], relative_to=relative_to)
        suffixes = entry.get("modality_suffix", {})
        if not isinstance(suffixes, dict):
            raise IntersurvError(f"{at}: modality_suffix must be a table, e.g. {{ rnaseq = \"rna\" }}")
        out.append(StudyCohort(
            source=source, name=entry.get("name"),
            clinical=str((relative_to / Path(entry["clinical"]).expanduser()).resolve()) if entry.get("clinical")
            else None,
            suffixes=parse_suffixes(suffixes, f"{at}.modality_suffix"),
            missing_covariates=entry.get("missing_covariates"),
            drop_incomplete=entry.get("drop_incomplete", False), allow_missing=entry.get("allow_missing", False),
            covariates_as_modality=entry.get("covariates_as_modality")))
    return out

