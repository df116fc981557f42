"""Import the TCGA patient tables of the MCAT / PORPOISE / SurvPath codebases.

Those codebases publish one CSV per cancer (often zipped), one row per
**slide**, several slides per patient, with the columns

* ``case_id`` (the patient), ``slide_id``, ``site``, ``train`` (ignored);
* ``survival_months`` (follow-up, months) and ``censorship`` (1 = censored,
  0 = death), so that the event indicator is ``event = 1 - censorship``;
* ``age`` and ``is_female`` (kept as clinical covariates) and
  ``oncotree_code`` (histological subtype, kept as the stratification group);
* feature columns named ``<GENE>_<suffix>``: ``_rnaseq`` (expression),
  ``_cnv`` (copy number), ``_mut`` (mutation 0/1). Each suffix becomes one
  modality (``rnaseq -> rna``, ``cnv -> cnv``, ``mut -> mut`` unless renamed),
  its features named by the gene.

:func:`import_tcga_table` collapses the slides to one row per patient, which
requires that a patient's slides agree on every kept column (outcome,
covariates, group, features); any disagreement is an error naming the patient
and the column. An optional clinical file (``case_id`` plus further columns,
again possibly one row per slide) joins more covariates by ``case_id``:
numeric columns are kept as they are, WHO grade columns (``G2``, ``G3``,
``G4``) become the ordinal numbers 2, 3, 4, and a missing grade of a
glioblastoma (group or ``subtype`` ``GBM``) becomes 4, the grade of every GBM
by definition. Text columns and columns with no value at all are skipped and
named in the report.

**Missing covariate values** (an empty ``age`` or ``is_female`` cell, a
clinical cell without a value) follow ``missing_covariates``:

* ``"impute"`` (the default): the cell gets the median of the patients who
  have a value, or for a 0/1 column its more frequent value (ties: 0). No
  outcome is used. The report names every imputed column with its value and
  patients, and :func:`write_new_cohort_dir` records them in ``cohort.toml``
  (``[clinical] imputed``) so that ``datasets check`` shows them too. The
  patients keep their modalities, so every model (the ``clinical`` reference
  included) sees every patient, and the covariates hold no NaN.
* ``"drop"``: patients without a value are left out of the cohort (named);
* ``"error"``: the first such cell is an error naming the patient and column.

Every problem is a one-line :class:`~intersurv.errors.CohortError`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import CohortError
from .atomic import current_umask
from .cohort_dir import write_cohort_dir

DEFAULT_SUFFIXES: dict[str, str] = {"rnaseq": "rna", "cnv": "cnv", "mut": "mut"}
"""Column suffix -> modality name."""
SUFFIX_KINDS: dict[str, str] = {"rnaseq": "rna"}
"""Column suffix -> modality kind (others are ``tabular``)."""
ID, TIME, CENSORSHIP, GROUP = "case_id", "survival_months", "censorship", "oncotree_code"
COVARIATES = ("age", "is_female")
IGNORED = ("slide_id", "site", "train")
MISSING_TOKENS = frozenset({"", "n/a", "na", "nan", "none", "[not available]", "not reported"})
GRADE = re.compile(r"^g([1-4])$", re.IGNORECASE)
GBM = "GBM"  # glioblastoma: WHO grade 4 by definition
#: What to do with a patient without a covariate value (module docstring); the first is the default.
MISSING_COVARIATES = ("impute", "drop", "error")


@dataclass
class ImportReport:
    """What :func:`import_tcga_table` read and kept."""

    source: Path
    n_slides: int
    cohort: Cohort
    ignored_columns: list[str] = field(default_factory=list)
    #: Covariate columns left out: text, or no value at all (of the table or of the clinical file).
    skipped_clinical: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    #: Covariate -> {"value": the imputed number, "method": "median" or "more frequent value",
    #: "patients": ids whose cell was empty} (policy "impute").
    imputed: dict[str, dict] = field(default_factory=dict)

    def lines(self) -> list[str]:
        c = self.cohort
        n_read = c.n_patients + len(self.dropped)
        out = [f"read {self.n_slides} slide row(s) of {n_read} patient(s) from {self.source}",
               f"kept {c.n_patients} patient(s), {c.n_events} death(s); "
               + ", ".join(f"{m}: {w} feature(s)" for m, w in c.widths().items())]
        if c.covariates is not None:
            out.append("covariates: " + ", ".join(map(str, c.covariates.columns)))
        if self.dropped:
            out.append(f"dropped {len(self.dropped)} patient(s) without a covariate value: "
                       + ", ".join(self.dropped[:10]) + (", ..." if len(self.dropped) > 10 else ""))
        out += imputed_lines(self.imputed)
        if self.ignored_columns:
            out.append("ignored column(s): " + ", ".join(self.ignored_columns))
        if self.skipped_clinical:
            out.append("skipped covariate column(s) (text or no value): " + ", ".join(self.skipped_clinical))
        return out


def imputed_lines(imputed: Mapping[str, Mapping]) -> list[str]:
    """One line per imputed covariate: its value and how many (and which) patients got it."""
    out = []
    for col, rec in imputed.items():
        ids = list(rec["patients"])
        out.append(f"imputed covariate {col!r} = {rec['value']:g} ({rec.get('method', 'imputed')} of the other "
                   f"patients) for {len(ids)} patient(s) without a value: {', '.join(ids[:5])}"
                   + (", ..." if len(ids) > 5 else ""))
    return out


def impute_value(values: pd.Series) -> tuple[float, str]:
    """The value a missing cell of this covariate gets and its name: the median of ``values`` (NaN =
    missing), or for a 0/1 column its more frequent value (ties: 0)."""
    present = values.dropna()
    if present.isin((0.0, 1.0)).all():
        return float(present.mean() > 0.5), "more frequent value"
    return float(present.median()), "median"


def _apply_missing_policy(covariates: pd.DataFrame, policy: str, source: Mapping[str, Path]
                         ) -> tuple[pd.DataFrame, np.ndarray, dict[str, dict]]:
    """``covariates`` (patients x columns, NaN = no value, indexed by patient id) under ``policy``
    (:data:`MISSING_COVARIATES`): the covariates, the mask of patients kept and the imputed cells.
    ``source`` names the file of each column for the error message."""
    no_value = covariates.isna()
    keep = np.ones(len(covariates), dtype=bool)
    if not no_value.any(axis=None):
        return covariates, keep, {}
    if policy == "error":
        r, c = np.argwhere(no_value.to_numpy())[0]
        col = covariates.columns[c]
        raise CohortError(f"{source[col]}: patient {covariates.index[r]!r} has no value in column {col!r} "
                          f"({int(no_value.any(axis=1).sum())} patient(s) with a missing value; use "
                          "--missing-covariates impute or drop)")
    if policy == "drop":
        keep = ~no_value.any(axis=1).to_numpy()
        return covariates[keep], keep, {}
    filled = covariates.copy()
    imputed: dict[str, dict] = {}
    for col in covariates.columns[no_value.any(axis=0).to_numpy()]:
        value, method = impute_value(covariates[col])
        filled[col] = covariates[col].fillna(value)
        imputed[str(col)] = {"value": value, "method": method,
                             "patients": covariates.index[no_value[col].to_numpy()].tolist()}
    return filled, keep, imputed


def read_single_csv(path: str | Path, *, text: bool = False) -> pd.DataFrame:
    """Read a CSV, or a zip archive holding exactly one file (read as CSV).

    ``text=True`` reads every cell as a string and keeps ``N/A`` etc. as text.
    Unnamed index columns (``Unnamed: 0``, written by pandas) are dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError(f"{path}: file not found")
    kw: dict = {"dtype": str, "keep_default_na": False} if text else {"low_memory": False}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [i.filename for i in zf.infolist() if not i.is_dir()
                           and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith("._")]
                if len(members) != 1:
                    raise CohortError(f"{path}: a zip archive must hold exactly one CSV file, it holds "
                                      f"{len(members)}{': ' + ', '.join(members[:4]) if members else ''}")
                with zf.open(members[0]) as fh:
                    df = pd.read_csv(fh, **kw)
        else:
            df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise CohortError(f"{path}: empty file (no header, no rows)") from None
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CohortError(f"{path}: cannot read table ({first})") from None
    df = df.loc[:, [not str(c).startswith("Unnamed: ") for c in df.columns]]
    if df.empty:
        raise CohortError(f"{path}: no rows (a header only)")
    return df


def _require(df: pd.DataFrame, path: Path, cols: list[str]) -> None:
    for c in cols:
        if c not in df.columns:
            raise CohortError(f"{path}: missing required column {c!r}")


def _numeric(df: pd.DataFrame, cols: list[str], path: Path, ids: pd.Series, *,
             empty_ok: bool = False) -> pd.DataFrame:
    """``df[cols]`` as float64; a text cell, or an empty cell unless ``empty_ok`` (then NaN), is an error
    naming patient and column."""
    block = df[cols].apply(pd.to_numeric, errors="coerce")
    bad = block.isna().to_numpy()
    if empty_ok:  # only a cell with text in it is bad
        blank = df[cols].isna() | (df[cols].astype(str).apply(lambda s: s.str.strip()) == "")
        bad &= ~blank.to_numpy()
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raw = df[cols[c]].iloc[r]
        what = "is empty" if pd.isna(raw) or str(raw).strip() == "" else f"is not numeric: {raw!r}"
        raise CohortError(f"{path}: patient {ids.iloc[r]!r}, column {cols[c]!r} {what} "
                          f"({int(bad.sum())} bad cell(s))")
    return block.astype(np.float64)


def _one_row_per_patient(df: pd.DataFrame, cols: list[str], path: Path) -> pd.DataFrame:
    """Collapse rows (slides) to one per ``case_id``, requiring each patient's rows to agree on ``cols``."""
    first = df.groupby(ID, sort=False)[cols].first()
    if len(first) == len(df):
        return df.set_index(ID)[cols]
    expected = first.loc[df[ID].to_numpy()].to_numpy()
    got = df[cols].to_numpy()
    same = (expected == got) | (pd.isna(expected) & pd.isna(got))
    if not same.all():
        r, c = np.argwhere(~same)[0]
        n_pat = df.loc[~same.all(axis=1), ID].nunique()
        raise CohortError(
            f"{path}: the slides of patient {df[ID].iloc[r]!r} disagree on column {cols[c]!r} "
            f"({expected[r, c]!r} vs {got[r, c]!r}; {n_pat} patient(s) with disagreeing slides)"
        )
    return first


def _modality_columns(columns: list[str], suffixes: Mapping[str, str]) -> dict[str, list[str]]:
    by_suffix: dict[str, list[str]] = {s: [] for s in suffixes}
    for c in columns:
        head, sep, tail = c.rpartition("_")
        if sep and head and tail in by_suffix:
            by_suffix[tail].append(c)
    return {s: cols for s, cols in by_suffix.items() if cols}


def _encode_clinical_column(values: pd.Series, group: pd.Series, subtype: pd.Series | None) -> pd.Series | None:
    """A clinical column as numbers (numeric, or WHO grade G<k> -> k), or None for text / empty columns."""
    text = values.fillna("").astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_TOKENS)
    if missing.all():
        return None
    present = text[~missing]
    as_number = pd.to_numeric(present, errors="coerce")
    if as_number.notna().all():
        out = pd.Series(np.nan, index=values.index)
        out[~missing] = as_number
        return out
    grade = present.str.extract(GRADE, expand=False)
    if grade.notna().all():
        out = pd.Series(np.nan, index=values.index)
        out[~missing] = grade.astype(float)
        is_gbm = group.eq(GBM) if subtype is None else (group.eq(GBM) | subtype.eq(GBM))
        out[missing & is_gbm.to_numpy()] = 4.0
        return out
    return None


def _clinical_covariates(path: Path, ids: pd.Index, group: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """The numeric covariates of the clinical file (NaN where missing), aligned to ``ids``; also the
    skipped column names.

    Columns are encoded row by row first, so that slides disagreeing on a
    skipped (text) column are no error; kept columns must agree.
    """
    clin = read_single_csv(path, text=True)
    _require(clin, path, [ID])
    clin[ID] = clin[ID].str.strip()
    absent = ids.difference(pd.Index(clin[ID]))
    if len(absent):
        raise CohortError(f"{path}: patient {absent[0]!r} of the survival table has no row "
                          f"({len(absent)} patient(s) missing)")
    clin = clin[clin[ID].isin(ids)].reset_index(drop=True)
    row_group = group.loc[clin[ID]].reset_index(drop=True)
    subtype = clin["subtype"].str.strip() if "subtype" in clin.columns else None
    encoded: dict[str, pd.Series] = {}
    skipped: list[str] = []
    for c in (c for c in clin.columns if c != ID):
        enc = _encode_clinical_column(clin[c], row_group, subtype)
        if enc is None:
            skipped.append(c)
            continue
        encoded[c] = enc
    table = pd.DataFrame({ID: clin[ID], **encoded})
    return _one_row_per_patient(table, list(encoded), path).loc[ids], skipped


def import_tcga_table(path: str | Path, *, clinical: str | Path | None = None,
                      suffixes: Mapping[str, str] | None = None, name: str | None = None,
                      missing_covariates: str = MISSING_COVARIATES[0],
                      drop_incomplete: bool = False) -> ImportReport:
    """Read a slide-level TCGA table (module docstring) into a one-row-per-patient :class:`Cohort`.

    ``suffixes`` renames modalities by column suffix (defaults:
    :data:`DEFAULT_SUFFIXES`, entries given here override them); ``clinical``
    joins further covariates by ``case_id``. A patient without a value for a
    covariate (of the table or of ``clinical``) is imputed, dropped or an
    error by ``missing_covariates`` (module docstring); ``drop_incomplete``
    is ``missing_covariates="drop"``.
    """
    path = Path(path)
    sfx = {**DEFAULT_SUFFIXES, **(suffixes or {})}
    if len(set(sfx.values())) != len(sfx):
        raise CohortError(f"two column suffixes map to the same modality name: {sfx}")
    df = read_single_csv(path)
    _require(df, path, [ID, TIME, CENSORSHIP])
    df[ID] = df[ID].astype(str).str.strip()
    columns = [str(c) for c in df.columns]
    mod_cols = _modality_columns(columns, sfx)
    if not mod_cols:
        raise CohortError(f"{path}: no feature column ending in " + ", ".join(f"_{s}" for s in sfx))
    policy = "drop" if drop_incomplete else missing_covariates
    if policy not in MISSING_COVARIATES:
        raise CohortError(f"missing-covariate policy {policy!r}: expected one of {', '.join(MISSING_COVARIATES)}")
    covs = [c for c in COVARIATES if c in df.columns]
    features = [c for cols in mod_cols.values() for c in cols]
    numeric = [TIME, CENSORSHIP, *features]
    df[numeric] = _numeric(df, numeric, path, df[ID])
    if covs:
        df[covs] = _numeric(df, covs, path, df[ID], empty_ok=True)
    empty_covs = [c for c in covs if df[c].isna().all()]
    covs = [c for c in covs if c not in empty_covs]
    kept = [TIME, CENSORSHIP, *covs, *features] + ([GROUP] if GROUP in df.columns else [])
    used = set(kept) | {ID, *IGNORED, *empty_covs}
    ignored = [c for c in columns if c not in used]

    pat = _one_row_per_patient(df, kept, path)
    bad = ~pat[CENSORSHIP].isin((0.0, 1.0))
    if bad.any():
        raise CohortError(f"{path}: column {CENSORSHIP!r} must be 0 or 1 (1 = censored); patient "
                          f"{pat.index[bad.to_numpy()][0]!r} has {pat[CENSORSHIP][bad].iloc[0]!r}")
    group = pat[GROUP].astype(str).str.strip() if GROUP in pat.columns else pd.Series("", index=pat.index)
    covariates = pat[covs]
    source = {c: path for c in covs}
    skipped = list(empty_covs)
    if clinical is not None:
        extra, skipped_clinical = _clinical_covariates(Path(clinical), pat.index, group)
        skipped += skipped_clinical
        clash = [c for c in extra.columns if c in covs]
        if clash:
            raise CohortError(f"{clinical}: column {clash[0]!r} is already a covariate of {path.name}")
        covariates = pd.concat([covariates, extra], axis=1)
        source.update({c: Path(clinical) for c in extra.columns})
    covariates, keep, imputed = _apply_missing_policy(covariates, policy, source)
    dropped = pat.index[~keep].tolist()
    pat, group = pat[keep], group[keep]
    if covariates.shape[1] == 0:
        covariates = None

    stem = path.name.split(".")[0]
    cohort = Cohort(
        ids=pat.index.to_numpy(),
        time=pat[TIME].to_numpy(),
        event=1.0 - pat[CENSORSHIP].to_numpy(),
        modalities={sfx[s]: pat[cols].to_numpy(np.float32) for s, cols in mod_cols.items()},
        feature_names={sfx[s]: [c[: -len(s) - 1] for c in cols] for s, cols in mod_cols.items()},
        time_unit="months",
        group=group.to_numpy() if GROUP in pat.columns else None,
        covariates=None if covariates is None else covariates.reset_index(drop=True),
        kinds={sfx[s]: SUFFIX_KINDS.get(s, "tabular") for s in mod_cols},
        name=name or stem,
    )
    return ImportReport(source=path, n_slides=len(df), cohort=cohort, ignored_columns=ignored,
                        skipped_clinical=skipped, dropped=dropped, imputed=imputed)


def write_new_cohort_dir(cohort: Cohort, out: str | Path, *, table_format: str = "parquet",
                         covariates_as_modality: str | None = None,
                         imputed: Mapping[str, Mapping] | None = None) -> Path:
    """Write ``cohort`` to the new directory ``out`` as a whole: built beside it, then renamed into place.

    ``covariates_as_modality`` writes that switch into ``cohort.toml`` (the
    covariates are then read as one more modality of that name), ``imputed``
    (:attr:`ImportReport.imputed`) the record of imputed covariate cells. An existing
    non-empty ``out`` is refused; on any error nothing is left at ``out``.
    """
    if covariates_as_modality is not None:
        cohort.with_covariates_modality(covariates_as_modality)  # fail before writing anything
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CohortError(f"{out}: already exists and is not an empty directory (choose a new --out)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write_cohort_dir(cohort, tmp, table_format=table_format, covariates_as_modality=covariates_as_modality,
                         imputed=imputed)
        os.chmod(tmp, 0o777 & ~current_umask())
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out
