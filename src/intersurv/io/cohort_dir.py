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
      covariates = ["age", "sex", "grade"]
      categorical = ["grade"]
      imputed = {age = {value = 61.0, method = "median", patients = ["P7"]}}  # by datasets import
      [modalities.rna]
      file = "rna.parquet"
      kind = "rna"

  A modality of ``kind = "bags"`` (whole-slide images as bags of patch
  features) has ``dir`` (a directory of TRIDENT/CLAM ``.h5`` bags or an
  intersurv bag directory) and optionally ``slides`` (a slide -> patient CSV)
  instead of ``file`` (:mod:`intersurv.io.bag_dir`); the cohort then holds
  its bags (:attr:`Cohort.bags`) and, as the modality's features, their pooled means.

  A top-level ``allow_missing = true`` keeps patients absent from a modality
  table (see :func:`read_cohort_dir`). A top-level ``covariates_as_modality = "clinical"`` adds the covariates as
  one more modality of that name (kind ``clinical``), used by the fusion
  models and by the ``clinical`` reference model.

  Without ``cohort.toml`` (or without its ``[modalities]`` table) every other
  ``.csv``/``.parquet`` file in the directory is a modality named after the file.
* optionally ``truth.json``: the ground truth of a simulated cohort.

Covariates: a column is categorical when ``categorical`` lists it (its values
are kept as text, so codes such as grade 1/2/3 are levels, not numbers) or when
none of its non-blank cells is a number (``sex`` = M/F). Any other column is
numeric: a cell that is not a number in a column with numbers (``age`` = "old")
is an error naming the file, column and patient. Blank cells stay missing.

A modality table may not be the clinical table nor hold its time or event
column (the outcome would become a feature).

``[clinical] imputed`` records covariate cells that ``datasets import`` filled
in (covariate -> the value, how it was chosen and the patients who got it;
:mod:`intersurv.io.tcga_table`); it changes nothing when reading and is shown
by ``datasets check`` (:func:`imputed_covariates`).

Every problem is raised as a :class:`~intersurv.errors.CohortError` whose
message names the file, the column or patient, and what is wrong.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..cohort import MONTHS_PER_TIME_UNIT, Cohort
from ..errors import CohortError
from .atomic import atomic_path, write_json_atomic, write_text_atomic
from .bag_dir import BAG_KIND, BagSource, scan_bag_modality, write_bag_modality

log = logging.getLogger("intersurv")

TABLE_SUFFIXES = (".csv", ".parquet")
RESERVED_FILES = {"clinical.csv", "cohort.toml", "truth.json"}


#: The keys cohort.toml may set and the type of each (``list`` = a list of strings).
_TOP_KEYS: dict[str, type] = {"name": str, "time_unit": str, "clinical": dict, "modalities": dict}
_CLINICAL_KEYS: dict[str, type] = {"file": str, "id": str, "time": str, "event": str, "group": str,
                                   "covariates": list, "categorical": list, "imputed": dict}
_MODALITY_KEYS: dict[str, type] = {"file": str, "kind": str, "id": str, "dir": str, "slides": str}
_TYPE_NAMES = {str: "a string", dict: "a table", list: "a list of strings"}


def _check_types(table: dict[str, Any], schema: dict[str, type], where: str, cfg_path: Path) -> None:
    for key, want in schema.items():
        if key not in table:
            continue
        v = table[key]
        ok = isinstance(v, want) and (want is not list or all(isinstance(x, str) for x in v))
        if not ok:
            raise CohortError(f"{cfg_path}: {where}{key} must be {_TYPE_NAMES[want]}, not {v!r}")


def _check_config(cfg: dict[str, Any], cfg_path: Path) -> None:
    """Types of every known cohort.toml key (see the module docstring)."""
    _check_types(cfg, _TOP_KEYS, "", cfg_path)
    if cfg.get("time_unit", "months") not in MONTHS_PER_TIME_UNIT:
        raise CohortError(f"{cfg_path}: time_unit {cfg['time_unit']!r} is not one of {', '.join(MONTHS_PER_TIME_UNIT)}")
    _check_types(cfg.get("clinical", {}), _CLINICAL_KEYS, "clinical.", cfg_path)
    for m, spec in cfg.get("modalities", {}).items():
        if not isinstance(spec, dict):
            raise CohortError(f"{cfg_path}: modalities.{m} must be a table with a 'file', not {spec!r}")
        _check_types(spec, _MODALITY_KEYS, f"modalities.{m}.", cfg_path)


def _resolve_inside(root: Path, name: str, what: str) -> Path:
    """``root / name``, refusing names that escape the cohort directory (symlinks included)."""
    path = (root / name).resolve()
    if root.resolve() not in path.parents:
        raise CohortError(f"{root / name}: {what} file resolves to {path}, outside the cohort directory")
    return path


def _id_column(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    """The patient ids as strings; a blank id is an error naming its line in the file."""
    raw = df[col]
    blank = raw.isna() | (raw.astype(str).str.strip() == "")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise CohortError(f"{path}: blank patient id in column {col!r}, data row {i + 1} "
                          f"({int(blank.sum())} blank id(s))")
    return raw.astype(str)


def _covariates(clin: pd.DataFrame, cols: list[str], categorical: list[str], ids: pd.Series,
                path: Path) -> pd.DataFrame:
    """The covariate columns, numeric or categorical by the rule of the module docstring."""
    out = {}
    for col in cols:
        s = clin[col]
        present = s.notna() & (s.astype(str).str.strip() != "")
        if col in categorical:
            out[col] = s.where(present).map(lambda v: v if pd.isna(v) else str(v)).astype(object)
            continue
        values = pd.to_numeric(s.where(present), errors="coerce")
        bad = present & values.isna()
        if not bad.any():
            out[col] = values.astype(np.float64)
        elif bad.sum() == present.sum():
            out[col] = s.where(present).astype(object)
        else:
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise CohortError(
                f"{path}: covariate {col!r} is numeric but patient {ids.iloc[i]!r} has {str(s.iloc[i])!r} "
                f"({int(bad.sum())} non-numeric value(s); list the column under categorical in cohort.toml "
                "if it is categorical)"
            )
    return pd.DataFrame(out, index=clin.index)


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
            f"{path}: column {col!r} is not numeric; patient {ids.iloc[i]!r} has {str(df[col].iloc[i])!r} "
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
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise CohortError(f"{cfg_path}: invalid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise CohortError(f"{cfg_path}: not a text file (invalid UTF-8)") from None
    _check_config(cfg, cfg_path)
    return cfg


def imputed_covariates(path: str | Path) -> dict[str, dict[str, Any]]:
    """The ``[clinical] imputed`` record of a cohort directory (module docstring); ``{}`` without one."""
    root = Path(path)
    record = _read_config(root).get("clinical", {}).get("imputed", {})
    for col, rec in record.items():
        ok = (isinstance(rec, dict) and isinstance(rec.get("value"), (int, float))
              and isinstance(rec.get("patients"), list) and all(isinstance(p, str) for p in rec["patients"]))
        if not ok:
            raise CohortError(f"{root / 'cohort.toml'}: clinical.imputed.{col} must be a table with a number "
                              f"'value' and a list of patient ids 'patients', not {rec!r}")
    return record


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
    clin[id_col] = _id_column(clin, id_col, clin_path)
    ids = clin[id_col]
    dup = ids.duplicated()
    if dup.any():
        raise CohortError(f"{clin_path}: duplicate patient id {ids[dup].iloc[0]!r} in column {id_col!r}")
    time = _numeric_column(clin, time_col, ids, clin_path)
    bad = ~np.isfinite(time) | (time <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CohortError(
            f"{clin_path}: column {time_col!r} must be finite and > 0; patient {ids.iloc[i]!r} has {float(time[i])!r} "
            f"({int(bad.sum())} bad value(s))"
        )
    event = _numeric_column(clin, event_col, ids, clin_path)
    bad = ~np.isin(event, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CohortError(
            f"{clin_path}: column {event_col!r} must be 0 or 1; patient {ids.iloc[i]!r} has "
            f"{float(event[i])!r} ({int(bad.sum())} bad value(s))"
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
    categorical = clin_cfg.get("categorical", [])
    _require_columns(clin, clin_path, list(cov_cols))
    undeclared = [c for c in categorical if c not in cov_cols]
    if undeclared:
        raise CohortError(f"{root / 'cohort.toml'}: categorical column {undeclared[0]!r} is not a covariate")
    covariates = _covariates(clin, list(cov_cols), categorical, ids, clin_path)

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

    tables: dict[str, tuple[Path, pd.DataFrame | BagSource]] = {}
    keep = pd.Series(True, index=clin.index)
    missing_by_mod: dict[str, list[str]] = {}
    lacking = pd.Series(0, index=clin.index)  # per patient, the modality tables without them
    cfg_path = root / "cohort.toml"
    for m, spec in mod_cfg.items():
        if spec.get("kind") == BAG_KIND:
            source = scan_bag_modality(root, m, spec, ids.tolist(), clin_path, cfg_path)
            present = ids.isin(source.present)
            if not present.all():
                missing_by_mod[m] = ids[~present].tolist()
                keep &= present
                lacking += (~present).astype(int)
            tables[m] = (source.path, source)
            continue
        stray = [k for k in ("dir", "slides") if k in spec]
        if stray:
            raise CohortError(f"{cfg_path}: modality {m!r}: {stray[0]!r} is only for kind = 'bags'")
        if "file" not in spec:
            raise CohortError(f"{root / 'cohort.toml'}: modality {m!r} has no 'file'")
        mpath = _resolve_inside(root, spec["file"], f"modality {m!r}")
        if mpath == clin_path.resolve():
            raise CohortError(f"{root / 'cohort.toml'}: modality {m!r} is the clinical table {clin_path.name}")
        df = read_table(mpath)
        mid = spec.get("id", id_col)
        _require_columns(df, mpath, [mid])
        outcome = [c for c in (time_col, event_col) if c in df.columns and c != mid]
        if outcome:
            raise CohortError(f"{mpath}: modality {m!r} holds the outcome column {outcome[0]!r} "
                              "(time and event belong in the clinical table only)")
        df[mid] = _id_column(df, mid, mpath)
        mdup = df[mid].duplicated()
        if mdup.any():
            raise CohortError(f"{mpath}: duplicate patient id {df[mid][mdup].iloc[0]!r}")
        present = ids.isin(df[mid])
        if not present.all():
            missing_by_mod[m] = ids[~present].tolist()
            keep &= present
            lacking += (~present).astype(int)
        tables[m] = (mpath, df.set_index(mid))

    if missing_by_mod and allow_missing:
        if (lacking == len(tables)).any():
            raise CohortError(f"{root}: patient {ids[lacking == len(tables)].iloc[0]!r} is in no modality table")
        keep[:] = True
    elif missing_by_mod:
        dropped = ids[~keep].tolist()
        if not drop_incomplete:
            m, miss = next(iter(missing_by_mod.items()))
            raise CohortError(
                f"{tables[m][0]}: patient {miss[0]!r} from {clin_path.name} "
                f"{'has no bag' if isinstance(tables[m][1], BagSource) else 'is missing'} "
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
    bags = {}
    for m, (mpath, df) in tables.items():
        if isinstance(df, BagSource):  # the pooled means: one pass over the bags (or their stored copy)
            bags[m] = df.open(ids.tolist())
            modalities[m] = bags[m].pooled()
            continue
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
        covariates=covariates[keep.to_numpy()].reset_index(drop=True) if cov_cols else None,
        kinds={m: str(spec.get("kind", "tabular")) for m, spec in mod_cfg.items()},
        name=str(cfg.get("name", root.resolve().name)),
        truth=truth,
        bags=bags,
    )
    as_modality = cfg.get("covariates_as_modality")
    if as_modality is None:
        return cohort
    if not isinstance(as_modality, str) or not as_modality:
        raise CohortError(f"{root / 'cohort.toml'}: covariates_as_modality must be a modality name, "
                          f"not {as_modality!r}")
    return cohort.with_covariates_modality(as_modality, allow_missing=allow_missing)


def _toml_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
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


def write_cohort_dir(cohort: Cohort, path: str | Path, *, table_format: str = "parquet",
                     covariates_as_modality: str | None = None,
                     imputed: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write ``cohort`` as a cohort directory; every file is written atomically.

    Modalities go to ``<name>.parquet`` (exact float32 round trip) or
    ``<name>.csv``; bag modalities to the bag directory
    ``<name>.bags`` (bags copied one at a time). Loading the directory back gives identical arrays.
    ``covariates_as_modality`` writes that switch into ``cohort.toml`` (the
    covariates are then read as one more modality of that name), ``imputed``
    the ``[clinical] imputed`` record (module docstring).
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
    lines = [*([] if covariates_as_modality is None else
               [f"covariates_as_modality = {_toml_value(covariates_as_modality)}"]),
             f"name = {_toml_value(cohort.name)}", f"time_unit = {_toml_value(cohort.time_unit)}",
             *(["allow_missing = true"] if any(v.any() for v in cohort.missing.values()) else []), "",
             "[clinical]", 'file = "clinical.csv"', 'id = "patient_id"', 'time = "time"', 'event = "event"']
    if cohort.group is not None:
        lines.append('group = "group"')
    lines.append(f"covariates = {_toml_value(covs)}")
    categorical = [c for c in covs if not pd.api.types.is_numeric_dtype(clin[c]) or pd.api.types.is_bool_dtype(clin[c])]
    if categorical:
        lines.append(f"categorical = {_toml_value(categorical)}")
    if imputed:
        lines.append(f"imputed = {_toml_value({c: dict(r) for c, r in imputed.items()})}")
    for m, x in cohort.modalities.items():
        if m in cohort.bags:
            lines += ["", f"[modalities.{_toml_value(m)}]", f"kind = {_toml_value(BAG_KIND)}",
                      f"dir = {_toml_value(write_bag_modality(cohort.bags[m], cohort.ids, root, m))}"]
            continue
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
