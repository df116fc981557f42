"""Public clinical + gene-expression cohorts from SurvSet (the ``[datasets]`` extra).

SurvSet (Drysdale, 2022) ships its tables inside the installed package, so
nothing is downloaded. Each cohort is split into two modalities:

* ``clinical``: the clinical variables; categorical ones one-hot encoded
  (first level dropped, a missing level ``na`` kept as its own column);
* ``expression``: the gene-expression columns (missing values, if any, are
  replaced by that gene's median and the count is logged).

Cohorts:

* ``nki70``: 144 lymph-node-negative breast cancer patients (NKI), 70 genes
  of the 70-gene signature; clinical: diameter, nodes, ER, grade, age; time in years.
* ``gse4335``: 115 breast cancer patients (Sorlie et al.), ~12,800 genes;
  clinical: ER, node status, histology, tumour size, grade, age; time in
  months. The ``metastasis`` column is left out: it is an outcome, not a
  baseline covariate.

SurvSet stores its tables as pickled pandas frames inside the installed
package; they are read from there only (package data, trusted like the
package's code), never from a user-supplied path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import IntersurvError

log = logging.getLogger("intersurv")


@dataclass(frozen=True)
class SurvSetSpec:
    name: str
    time_unit: str
    clinical: tuple[str, ...]  # SurvSet column names (fac_* / num_*)
    exclude: tuple[str, ...] = ()


SPECS = {
    "nki70": SurvSetSpec("nki70", "years", ("fac_Diam", "fac_N", "fac_ER", "fac_Grade", "num_Age")),
    "gse4335": SurvSetSpec(
        "gse4335", "months",
        ("fac_er_status", "fac_node_status", "fac_histology", "fac_tumor_size", "fac_grade", "num_age"),
        exclude=("fac_metastasis", "num_grade"),
    ),
}


def _survset_frame(name: str) -> pd.DataFrame:
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise IntersurvError(
            f"built-in cohort {name!r} needs the optional SurvSet package: pip install 'intersurv[datasets]'"
        ) from None
    return SurvLoader().load_dataset(name)["df"]


def survset_cohort(name: str) -> Cohort:
    """Load SurvSet cohort ``name`` (one of :data:`SPECS`) as a two-modality Cohort."""
    spec = SPECS[name]
    df = _survset_frame(name)
    clinical_raw = df[list(spec.clinical)]
    fac = [c for c in spec.clinical if c.startswith("fac_")]
    clinical = pd.get_dummies(clinical_raw.astype({c: str for c in fac}), columns=fac, drop_first=True, dtype=float)
    clinical.columns = [c.removeprefix("fac_").removeprefix("num_") for c in clinical.columns]
    genes = [c for c in df.columns if c.startswith("num_") and c not in spec.clinical and c not in spec.exclude]
    expr = df[genes].astype(float)
    n_missing = int(expr.isna().sum().sum())
    if n_missing:
        log.info("%s: %d missing expression value(s) replaced by the gene median", name, n_missing)
        expr = expr.fillna(expr.median())
    return Cohort(
        ids=df["pid"].astype(str).to_numpy(),
        time=df["time"].to_numpy(dtype=float),
        event=df["event"].to_numpy(dtype=int),
        modalities={"clinical": clinical.to_numpy(np.float32), "expression": expr.to_numpy(np.float32)},
        feature_names={"clinical": list(clinical.columns), "expression": [g.removeprefix("num_") for g in genes]},
        time_unit=spec.time_unit,
        kinds={"clinical": "clinical", "expression": "rna"},
        name=name,
    )


def load_nki70() -> Cohort:
    return survset_cohort("nki70")


def load_gse4335() -> Cohort:
    return survset_cohort("gse4335")
