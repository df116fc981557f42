"""The Cohort: patients, their survival outcome and their modalities.

A cohort of N patients holds

* ``ids``: N unique patient identifiers (strings);
* ``time``: N follow-up times, finite and > 0, in ``time_unit``;
* ``event``: N indicators, 1 = the event (death) was observed at ``time``,
  0 = censored at ``time``;
* ``modalities``: M >= 1 named feature matrices, each (N, d_m) float32, row a
  belonging to patient ``ids[a]``; a row that is entirely NaN means that
  patient lacks that modality (:attr:`Cohort.missing`; only cohorts read with
  ``allow_missing`` have such rows), any other NaN/inf is an error;
* optionally ``bags``: per bag modality ``m`` (``kinds[m] == "bags"``), a
  :class:`~intersurv.bags.BagSet` of N per-patient bags of patch features;
  ``modalities[m]`` is then the bags' pooled mean (filled in when not given,
  checked against it when given), so every tabular path keeps working; an
  empty bag is a patient lacking the modality (an all-NaN pooled row);
* optionally ``group`` (site, grade, ... used to stratify splits),
  ``covariates`` (clinical covariates for adjusted analyses) and ``truth``
  (the known answer of a simulated cohort).

Construction validates everything and raises :class:`~intersurv.errors.CohortError`
with a one-line message naming what is wrong. Modality names become file names
(``<modality>.parquet`` in a cohort directory), so each must be a safe path
component: not empty, not ``.`` or ``..``, no ``/``, ``\\`` or control
character (NUL included). ``time_unit`` is one of :data:`MONTHS_PER_TIME_UNIT`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .bags import BagSet
from .errors import CohortError


#: The time units a cohort may use, with their length in months (the one list of them).
MONTHS_PER_TIME_UNIT: dict[str, float] = {
    "days": 12.0 / 365.25, "weeks": 12.0 * 7.0 / 365.25, "months": 1.0, "years": 12.0,
}


def check_path_component(name: Any, what: str) -> str:
    """``name`` if it is safe as one file-name component, else a CohortError naming ``what``."""
    if not isinstance(name, str) or not name:
        raise CohortError(f"{what} name {name!r} must be a non-empty string")
    if name in (".", "..") or "/" in name or "\\" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise CohortError(f"{what} name {name!r} is not a safe file name (no '/', '\\', '.', '..' "
                          "or control characters)")
    return name


def _first_bad_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass(frozen=True, eq=False)
class Cohort:
    """A validated multimodal survival cohort (see the module docstring)."""

    ids: np.ndarray
    time: np.ndarray
    event: np.ndarray
    modalities: Mapping[str, np.ndarray]
    feature_names: Mapping[str, list[str]] = field(default_factory=dict)
    time_unit: str = "months"
    group: np.ndarray | None = None
    covariates: pd.DataFrame | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)
    name: str = "cohort"
    truth: dict[str, Any] | None = None
    bags: Mapping[str, BagSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(ord(ch) < 32 for ch in self.name):
            raise CohortError(f"cohort name {self.name!r} must be a non-empty string without control characters")
        if self.time_unit not in MONTHS_PER_TIME_UNIT:
            raise CohortError(f"cohort {self.name!r}: time unit {self.time_unit!r} is not one of "
                              f"{', '.join(MONTHS_PER_TIME_UNIT)}")
        ids = np.asarray(self.ids).astype(str).astype(object)
        n = len(ids)
        if n == 0:
            raise CohortError(f"cohort {self.name!r}: no patients")
        dup = pd.Index(ids).duplicated()
        if dup.any():
            raise CohortError(
                f"cohort {self.name!r}: duplicate patient id {ids[_first_bad_row(dup)]!r} "
                f"({int(dup.sum())} duplicate row(s))"
            )
        time = np.asarray(self.time, dtype=np.float64).reshape(-1)
        event_raw = np.asarray(self.event, dtype=np.float64).reshape(-1)
        for label, arr in (("time", time), ("event", event_raw)):
            if len(arr) != n:
                raise CohortError(f"cohort {self.name!r}: {label} has {len(arr)} values for {n} patients")
        bad = ~np.isfinite(time) | (time <= 0)
        if bad.any():
            i = _first_bad_row(bad)
            raise CohortError(
                f"cohort {self.name!r}: time must be finite and > 0; patient {ids[i]!r} has {float(time[i])!r} "
                f"({int(bad.sum())} bad value(s))"
            )
        bad = ~np.isin(event_raw, (0.0, 1.0))
        if bad.any():
            i = _first_bad_row(bad)
            raise CohortError(
                f"cohort {self.name!r}: event must be 0 or 1; patient {ids[i]!r} has {float(event_raw[i])!r} "
                f"({int(bad.sum())} bad value(s))"
            )
        event = event_raw.astype(np.int8)
        if event.sum() == 0:
            raise CohortError(f"cohort {self.name!r}: no events (every patient is censored)")
        given, bags = self._pooled_bags(n)
        if not given:
            raise CohortError(f"cohort {self.name!r}: no modalities")
        mods: dict[str, np.ndarray] = {}
        names: dict[str, list[str]] = {}
        for m, x in given.items():
            check_path_component(m, f"cohort {self.name!r}: modality")
            x = np.asarray(x)
            if x.ndim != 2 or x.shape[0] != n:
                raise CohortError(
                    f"cohort {self.name!r}: modality {m!r} has shape {x.shape}, expected ({n}, d)"
                )
            if x.shape[1] == 0:
                raise CohortError(f"cohort {self.name!r}: modality {m!r} has no features")
            x = x.astype(np.float32)
            finite = np.isfinite(x)
            if not finite.all():  # all-NaN rows are a missing modality; any other NaN or inf is an error
                lacking = np.isnan(x).all(axis=1)
                if lacking.all():
                    raise CohortError(f"cohort {self.name!r}: modality {m!r} is missing for every patient")
                finite |= lacking[:, None]
            if not finite.all():
                r, c = np.argwhere(~finite)[0]
                fn = list(self.feature_names.get(m, []))
                col = fn[c] if c < len(fn) else f"#{c}"
                raise CohortError(
                    f"cohort {self.name!r}: modality {m!r} has {int((~finite).sum())} NaN/inf value(s); "
                    f"first at patient {ids[r]!r}, feature {col!r}"
                )
            mods[m] = x
            fn = list(self.feature_names.get(m, [f"{m}_{j}" for j in range(x.shape[1])]))
            if len(fn) != x.shape[1]:
                raise CohortError(
                    f"cohort {self.name!r}: modality {m!r} has {x.shape[1]} features but {len(fn)} names"
                )
            names[m] = [str(s) for s in fn]
        group = None
        if self.group is not None:
            group = np.asarray(self.group).astype(str).astype(object)
            if len(group) != n:
                raise CohortError(f"cohort {self.name!r}: group has {len(group)} values for {n} patients")
        cov = None
        if self.covariates is not None:
            cov = pd.DataFrame(self.covariates).reset_index(drop=True)
            if len(cov) != n:
                raise CohortError(f"cohort {self.name!r}: covariates have {len(cov)} rows for {n} patients")
        set_ = object.__setattr__
        set_(self, "ids", ids)
        set_(self, "time", time)
        set_(self, "event", event)
        set_(self, "modalities", mods)
        set_(self, "feature_names", names)
        set_(self, "group", group)
        set_(self, "covariates", cov)
        set_(self, "kinds", {m: self.kinds.get(m, "bags" if m in bags else "tabular") for m in mods})
        set_(self, "bags", bags)
        stray = [m for m, k in self.kinds.items() if (k == "bags") != (m in bags)]
        if stray:
            m = stray[0]
            raise CohortError(f"cohort {self.name!r}: modality {m!r} is of kind {self.kinds[m]!r} "
                              + ("but has bags" if m in bags else "but has no bags"))

    def _pooled_bags(self, n: int) -> tuple[dict[str, Any], dict[str, BagSet]]:
        """The modalities with each bag modality's pooled mean filled in or checked, and the bags."""
        given: dict[str, Any] = dict(self.modalities)
        bags: dict[str, BagSet] = {}
        for m, b in (self.bags or {}).items():
            if not isinstance(b, BagSet):
                raise CohortError(f"cohort {self.name!r}: bags of modality {m!r} are a {type(b).__name__}, "
                                  "not a BagSet")
            if len(b) != n:
                raise CohortError(f"cohort {self.name!r}: modality {m!r} has {len(b)} bags for {n} patients")
            pooled = b.pooled()
            if m in given:
                x = np.asarray(given[m], dtype=np.float32)
                if x.shape != pooled.shape or not np.allclose(x, pooled, rtol=1e-5, atol=1e-6, equal_nan=True):
                    raise CohortError(f"cohort {self.name!r}: modality {m!r} is not the pooled mean of its bags")
            given[m] = pooled
            bags[m] = b
        return given, bags

    # ------------------------------------------------------------------ views
    @property
    def n_patients(self) -> int:
        return len(self.ids)

    @property
    def n_events(self) -> int:
        return int(self.event.sum())

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    @property
    def X(self) -> dict[str, np.ndarray]:
        """The modalities as a plain dict (the input format of every model)."""
        return dict(self.modalities)

    @property
    def missing(self) -> dict[str, np.ndarray]:
        """Per modality, the (N,) mask of patients who lack it (an all-NaN row)."""
        return {m: np.isnan(x).all(axis=1) for m, x in self.modalities.items()}

    def widths(self) -> dict[str, int]:
        return {m: int(x.shape[1]) for m, x in self.modalities.items()}

    def subset(self, index: np.ndarray | list[int]) -> "Cohort":
        """The cohort restricted to the patients at positions ``index`` (in that order)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Cohort(
            ids=self.ids[idx],
            time=self.time[idx],
            event=self.event[idx],
            modalities={m: x[idx] for m, x in self.modalities.items()},
            feature_names=self.feature_names,
            time_unit=self.time_unit,
            group=None if self.group is None else self.group[idx],
            covariates=None if self.covariates is None else self.covariates.iloc[idx].reset_index(drop=True),
            kinds=self.kinds,
            name=self.name,
            truth=self.truth,
            bags={m: b.subset(idx) for m, b in self.bags.items()},
        )

    def select_modalities(self, names: list[str]) -> "Cohort":
        """The cohort with only the named modalities, in the given order."""
        missing = [m for m in names if m not in self.modalities]
        if missing:
            raise CohortError(
                f"cohort {self.name!r}: no modality {missing[0]!r} (has {', '.join(self.modalities)})"
            )
        return Cohort(
            ids=self.ids, time=self.time, event=self.event,
            modalities={m: self.modalities[m] for m in names},
            feature_names={m: self.feature_names[m] for m in names},
            time_unit=self.time_unit, group=self.group, covariates=self.covariates,
            kinds={m: self.kinds[m] for m in names}, name=self.name, truth=self.truth,
            bags={m: self.bags[m] for m in names if m in self.bags},
        )

    def with_covariates_modality(self, name: str = "clinical", *, allow_missing: bool = False) -> "Cohort":
        """The cohort with its covariates added as one more modality ``name`` (kind ``clinical``).

        Every covariate must be numeric and finite (encode categories first);
        the fusion models then use the covariates like any other modality. A
        patient without any covariate value lacks that modality, which is an
        error unless ``allow_missing`` (as for a patient absent from a modality table).
        """
        cov = self.covariates
        if cov is None or cov.shape[1] == 0:
            raise CohortError(f"cohort {self.name!r}: no covariates to use as modality {name!r}")
        if name in self.modalities:
            raise CohortError(f"cohort {self.name!r}: modality {name!r} exists already")
        text = [str(c) for c in cov.columns if not pd.api.types.is_numeric_dtype(cov[c])]
        if text:
            raise CohortError(f"cohort {self.name!r}: covariate {text[0]!r} is not numeric; encode it as numbers "
                              f"to use the covariates as modality {name!r}")
        values = cov.to_numpy(dtype=np.float32)
        empty = np.isnan(values).all(axis=1)
        if empty.any() and not allow_missing:
            raise CohortError(f"cohort {self.name!r}: patient {self.ids[empty][0]!r} has no covariate value "
                              f"({int(empty.sum())} patient(s)), so lacks modality {name!r}; fill the covariates "
                              "in (datasets import imputes them by default) or allow missing modalities")
        return Cohort(
            ids=self.ids, time=self.time, event=self.event,
            modalities={**self.modalities, name: values},
            feature_names={**self.feature_names, name: [str(c) for c in cov.columns]},
            time_unit=self.time_unit, group=self.group, covariates=cov,
            kinds={**self.kinds, name: "clinical"}, name=self.name, truth=self.truth, bags=self.bags,
        )

    def summary(self) -> str:
        """A few human-readable lines: patients, events, follow-up, modalities."""
        t = self.time
        lines = [
            f"cohort      {self.name}",
            f"patients    {self.n_patients}",
            f"events      {self.n_events} ({100.0 * self.n_events / self.n_patients:.1f} %)",
            f"follow-up   median {np.median(t):.1f}, range {t.min():.1f}-{t.max():.1f} {self.time_unit}",
        ]
        if self.group is not None:
            vals, counts = np.unique(self.group, return_counts=True)
            lines.append("groups      " + ", ".join(f"{v}: {c}" for v, c in zip(vals, counts)))
        if self.covariates is not None and self.covariates.shape[1]:
            lines.append("covariates  " + ", ".join(map(str, self.covariates.columns)))
        missing = self.missing
        for m, x in self.modalities.items():
            lacking = int(missing[m].sum())
            lines.append(f"modality    {m:<12} {x.shape[1]:>6} features  ({self.kinds[m]})"
                         + (f", missing for {lacking} patient(s)" if lacking else ""))
            if m in self.bags:
                bags = self.bags[m]
                sizes = bags.sizes()
                with_bag = np.flatnonzero(sizes > 0)
                slides: set[str] = set()
                for a in with_bag:
                    names = bags.slide_of_patch(a)
                    slides.update([] if names is None else set(names.tolist()))
                lines.append(f"            {'':<12} bags of {len(with_bag)} patient(s): patches per patient min "
                             f"{sizes[with_bag].min()}, median {np.median(sizes[with_bag]):.0f}, max "
                             f"{sizes[with_bag].max()} ({int(sizes.sum())} in all, width {bags.width}"
                             + (f", {len(slides)} slides" if slides else "") + f"); {bags.describe()}")
        return "\n".join(lines)
