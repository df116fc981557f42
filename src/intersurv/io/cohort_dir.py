"""Cohort directories: read and write the on-disk cohort format.

A cohort directory holds

* ``clinical.csv``: ``patient_id``, ``time`` (> 0), ``event`` (0/1), optionally
  ``group`` (or ``site``), and any further columns as clinical covariates;
* one table per modality, ``<modality>.csv`` or ``<modality>.parquet``:
  ``patient_id`` plus one numeric column per feature;
* optionally ``cohort.toml``, which names the cohort, the time unit, the
  clinical columns and the modality files and kinds::

      name = "my-cohort"
      time_unit = "months"
      [clinical]
      file = "clinical.csv"
      id = "patient_id"
      time = "time"
      event = "event"
      group = "group"
      covariates = ["age", "sex"]
      [modalities.rna]
      file = "rna.parquet"
      kind = "rna"

  A top-level ``allow_missing = true`` keeps patients absent from a modality
  table (see :func:`read_cohort_dir`). A top-level ``covariates_as_modality = "clinical"`` adds the covariates as
  one more modality of that name (kind ``clinical``), used by the fusion
  models and by the ``clinical`` reference model.

  Without ``cohort.toml`` (or without its ``[modalities]`` table) every other
  ``.csv``/``.parquet`` file in the directory is a modality named after the file.
* optionally ``truth.json``: the ground truth of a simulated cohort.

Every problem is raised as a :class:`~intersurv.errors.CohortError` whose
message names the file, the column or patient, and what is wrong.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import CohortError
from .atomic import atomic_path, write_json_atomic, write_text_atomic

log = logging.getLogger("intersurv")

TABLE_SUFFIXES = (".csv", ".parquet")
RESERVED_FILES = {"clinical.csv", "cohort.toml", "truth.json"}


def _resolve_inside(root: Path, name: str, what: str) -> Path:
    """``root / name``, refusing names that escape the cohort directory."""
    path = (root / name).resolve()
    if root.resolve() not in path.parents:
        raise CohortError(f"{root / 'cohort.toml'}: {what} file {name!r} is outside the cohort directory")
    return path


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet table; a missing or unreadable file is a CohortError."""
    if not path.is_file():
        raise CohortError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, float_precision="round_trip")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CohortError(f"{path}: cannot read table ({first})") from None


def _require_columns(df: pd.DataFrame, path: Path, cols: list[str]) -> None:
    for c in cols:
        if c not in df.columns:
            raise CohortError(f"{path}: missing required column {c!r} (has {', '.join(map(str, df.columns[:8]))}"
                              f"{', ...' if df.shape[1] > 8 else ''})")


def _numeric_column(df: pd.DataFrame, col: str, ids: pd.Series, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & df[col].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise CohortError(
            f"{path}: column {col!r} is not numeric; patient {ids.iloc[i]!r} has {df[col].iloc[i]!r} "
            f"({int(bad.sum())} non-numeric value(s))"
        )
    return values.to_numpy(dtype=np.float64)


def _feature_matrix(df: pd.DataFrame, id_col: str, path: Path) -> tuple[np.ndarray, list[str]]:
    """The numeric feature block of a modality table, checked for text and NaN/inf."""
    feats = [c for c in df.columns if c != id_col]
    if not feats:
        raise CohortError(f"{path}: no feature columns besides {id_col!r}")
    block = df[feats]
    non_numeric = [c for c in feats if not pd.api.types.is_numeric_dtype(block[c])]
    if non_numeric:
        coerced = block[non_numeric].apply(pd.to_numeric, errors="coerce")
        bad = coerced.isna() & block[non_numeric].notna()
        n_bad = int(bad.to_numpy().sum())
        if n_bad:
            r, c = np.argwhere(bad.to_numpy())[0]
            col = non_numeric[c]
            raise CohortError(
                f"{path}: {n_bad} non-numeric value(s); first at patient {df[id_col].iloc[r]!r}, "
                f"column {col!r}: {block[col].iloc[r]!r}"
            )
        block = block.copy()
        block[non_numeric] = coerced
    x = block.to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise CohortError(
            f"{path}: {int((~finite).sum())} NaN/inf value(s); first at patient {df[id_col].iloc[r]!r}, "
            f"column {feats[c]!r}"
        )
    return x.astype(np.float32), [str(c) for c in feats]


def _read_config(root: Path) -> dict[str, Any]:
    cfg_path = root / "cohort.toml"
    if not cfg_path.exists():
        return {}
    try:
        with open(cfg_path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CohortError(f"{cfg_path}: invalid TOML ({exc})") from None


def read_cohort_dir(path: str | Path, *, drop_incomplete: bool = False, allow_missing: bool = False) -> Cohort:
    """Load and validate a cohort directory (format in the module docstring).

    A patient listed in the clinical table but absent from a modality table is
    an error unless ``drop_incomplete`` is set, in which case the patient is
    dropped and a warning names how many and which, or ``allow_missing`` (or
    ``allow_missing = true`` in cohort.toml) is set, in which case the patient
    is kept with an all-NaN row in that modality (:attr:`Cohort.missing`).
    Patients that appear only in a modality table are ignored.
    """
    root = Path(path)
    if not root.is_dir():
        raise CohortError(f"{root}: not a cohort directory (no such directory)")
    cfg = _read_config(root)
    allow_missing = allow_missing or bool(cfg.get("allow_missing", False))
    clin_cfg = cfg.get("clinical", {})
    clin_path = _resolve_inside(root, clin_cfg.get("file", "clinical.csv"), "clinical")
    id_col = clin_cfg.get("id", "patient_id")
    time_col = clin_cfg.get("time", "time")
    event_col = clin_cfg.get("event", "event")

    clin = read_table(clin_path)
    _require_columns(clin, clin_path, [id_col, time_col, event_col])
    clin[id_col] = clin[id_col].astype(str)
    ids = clin[id_col]
    dup = ids.duplicated()
    if dup.any():
        raise CohortError(f"{clin_path}: duplicate patient id {ids[dup].iloc[0]!r} in column {id_col!r}")
    time = _numeric_column(clin, time_col, ids, clin_path)
    bad = ~np.isfinite(time) | (time <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CohortError(
            f"{clin_path}: column {time_col!r} must be finite and > 0; patient {ids.iloc[i]!r} has {time[i]!r} "
            f"({int(bad.sum())} bad value(s))"
        )
    event = _numeric_column(clin, event_col, ids, clin_path)
    bad = ~np.isin(event, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CohortError(
            f"{clin_path}: column {event_col!r} must be 0 or 1; patient {ids.iloc[i]!r} has "
            f"{clin[event_col].iloc[i]!r} ({int(bad.sum())} bad value(s))"
        )
    if event.sum() == 0:
        raise CohortError(f"{clin_path}: no events in column {event_col!r} (every patient is censored)")

    group_col = clin_cfg.get("group")
    if group_col is None:
        group_col = next((c for c in ("group", "site") if c in clin.columns), None)
    elif group_col not in clin.columns:
        raise CohortError(f"{clin_path}: group column {group_col!r} named in cohort.toml is missing")
    used = {id_col, time_col, event_col, group_col}
    cov_cols = clin_cfg.get("covariates", [c for c in clin.columns if c not in used])
    _require_columns(clin, clin_path, list(cov_cols))

    # ------------------------------------------------------------ modalities
    mod_cfg: dict[str, dict[str, Any]] = cfg.get("modalities", {})
    if not mod_cfg:
        for p in sorted(root.iterdir()):
            if p.suffix in TABLE_SUFFIXES and p.name not in RESERVED_FILES and p != clin_path:
                if p.stem in mod_cfg:
                    raise CohortError(f"{p}: modality {p.stem!r} has both a .csv and a .parquet table")
                mod_cfg[p.stem] = {"file": p.name}
    if not mod_cfg:
        raise CohortError(f"{root}: no modality tables (expected <modality>.csv or .parquet beside clinical.csv)")

    tables: dict[str, tuple[Path, pd.DataFrame]] = {}
    keep = pd.Series(True, index=clin.index)
    missing_by_mod: dict[str, list[str]] = {}
    for m, spec in mod_cfg.items():
        if "file" not in spec:
            raise CohortError(f"{root / 'cohort.toml'}: modality {m!r} has no 'file'")
        mpath = _resolve_inside(root, spec["file"], f"modality {m!r}")
        df = read_table(mpath)
        mid = spec.get("id", id_col)
        _require_columns(df, mpath, [mid])
        df[mid] = df[mid].astype(str)
        mdup = df[mid].duplicated()
        if mdup.any():
            raise CohortError(f"{mpath}: duplicate patient id {df[mid][mdup].iloc[0]!r}")
        present = ids.isin(df[mid])
        if not present.all():
            missing_by_mod[m] = ids[~present].tolist()
            keep &= present
        tables[m] = (mpath, df.set_index(mid))

    if missing_by_mod and allow_missing:
        lacking = pd.Series(0, index=clin.index)
        for miss in missing_by_mod.values():
            lacking += ids.isin(miss).astype(int)
        if (lacking == len(tables)).any():
            raise CohortError(f"{root}: patient {ids[lacking == len(tables)].iloc[0]!r} is in no modality table")
        keep[:] = True
    elif missing_by_mod:
        dropped = ids[~keep].tolist()
        if not drop_incomplete:
            m, miss = next(iter(missing_by_mod.items()))
            raise CohortError(
                f"{tables[m][0]}: patient {miss[0]!r} from {clin_path.name} is missing "
                f"({len(miss)} patient(s) missing from modality {m!r}; use --drop-incomplete to drop them "
                "or --allow-missing to keep them)"
            )
        shown = ", ".join(dropped[:10]) + (", ..." if len(dropped) > 10 else "")
        log.warning("dropped %d patient(s) missing from a modality: %s", len(dropped), shown)
        if keep.sum() == 0:
            raise CohortError(f"{root}: no patient is present in every modality")
    clin = clin[keep.to_numpy()].reset_index(drop=True)
    ids = clin[id_col]

    modalities: dict[str, np.ndarray] = {}
    feature_names: dict[str, list[str]] = {}
    for m, (mpath, df) in tables.items():
        present = ids.isin(df.index).to_numpy()
        aligned = df.loc[ids[present].to_numpy()].reset_index()
        x, names = _feature_matrix(aligned, aligned.columns[0], mpath)
        full = np.full((len(ids), x.shape[1]), np.nan, dtype=np.float32)
        full[present] = x
        modalities[m], feature_names[m] = full, names

    truth = None
    truth_path = root / "truth.json"
    if truth_path.exists():
        try:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CohortError(f"{truth_path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None

    cohort = Cohort(
        ids=ids.to_numpy(),
        time=time[keep.to_numpy()],
        event=event[keep.to_numpy()],
        modalities=modalities,
        feature_names=feature_names,
        time_unit=str(cfg.get("time_unit", "months")),
        group=None if group_col is None else clin[group_col].astype(str).to_numpy(),
        covariates=clin[list(cov_cols)] if cov_cols else None,
        kinds={m: str(spec.get("kind", "tabular")) for m, spec in mod_cfg.items()},
        name=str(cfg.get("name", root.resolve().name)),
        truth=truth,
    )
    as_modality = cfg.get("covariates_as_modality")
    if as_modality is None:
        return cohort
    if not isinstance(as_modality, str) or not as_modality:
        raise CohortError(f"{root / 'cohort.toml'}: covariates_as_modality must be a modality name, "
                          f"not {as_modality!r}")
    return cohort.with_covariates_modality(as_modality)


def _toml_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v)  # a JSON string literal is a valid TOML basic string


def write_modality_table(path: Path, ids: np.ndarray, x: np.ndarray, names: list[str]) -> None:
    """Write one modality table (``patient_id`` + features) atomically as CSV or Parquet; patients
    lacking the modality (all-NaN rows) are left out."""
    x = np.asarray(x, dtype=np.float32)
    present = ~np.isnan(x).all(axis=1)
    df = pd.DataFrame(x[present], columns=list(names))
    df.insert(0, "patient_id", np.asarray(ids).astype(str)[present])
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


def write_cohort_dir(cohort: Cohort, path: str | Path, *, table_format: str = "parquet") -> Path:
    """Write ``cohort`` as a cohort directory; every file is written atomically.

    Modalities go to ``<name>.parquet`` (exact float32 round trip) or
    ``<name>.csv``. Loading the directory back gives identical arrays.
    """
    if table_format not in ("parquet", "csv"):
        raise CohortError(f"table format must be 'parquet' or 'csv', not {table_format!r}")
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    clin = pd.DataFrame({"patient_id": cohort.ids, "time": cohort.time, "event": cohort.event.astype(int)})
    if cohort.group is not None:
        clin["group"] = cohort.group
    covs: list[str] = []
    if cohort.covariates is not None:
        for c in cohort.covariates.columns:
            if c in clin.columns:
                raise CohortError(f"covariate column {c!r} clashes with a reserved clinical column")
            clin[c] = cohort.covariates[c].to_numpy()
            covs.append(str(c))
    with atomic_path(root / "clinical.csv") as tmp:
        clin.to_csv(tmp, index=False)
    lines = [f"name = {_toml_value(cohort.name)}", f"time_unit = {_toml_value(cohort.time_unit)}",
             *(["allow_missing = true"] if any(v.any() for v in cohort.missing.values()) else []), "",
             "[clinical]", 'file = "clinical.csv"', 'id = "patient_id"', 'time = "time"', 'event = "event"']
    if cohort.group is not None:
        lines.append('group = "group"')
    lines.append(f"covariates = {_toml_value(covs)}")
    for m, x in cohort.modalities.items():
        fname = f"{m}.{table_format}"
        if fname in RESERVED_FILES:  # a modality called "clinical" written as CSV
            fname = f"{m}_features.{table_format}"
        write_modality_table(root / fname, cohort.ids, x, cohort.feature_names[m])
        lines += ["", f"[modalities.{_toml_value(m)}]", f"file = {_toml_value(fname)}",
                  f"kind = {_toml_value(cohort.kinds[m])}"]
    if cohort.truth is not None:
        write_json_atomic(root / "truth.json", cohort.truth)
    write_text_atomic(root / "cohort.toml", "\n".join(lines) + "\n")
    return root
