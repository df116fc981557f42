"""The GSE7390 breast cancer cohort that ships with scikit-survival.

198 node-negative breast cancer patients (Desmedt et al., 2007), time to
distant metastasis in days. Two modalities:

* ``rna``: the 76 gene-expression probes of the 76-gene signature;
* ``clinical``: age (years), er (1 = positive), grade (1 = well, 2 =
  intermediate, 3 = poorly differentiated; the 2 patients with unknown grade
  get the cohort median, 2), size (cm).

Patient ids are ``GSE7390-001`` ... in the order scikit-survival returns them.
"""

from __future__ import annotations

import numpy as np

from ..cohort import Cohort

GRADE = {"well differentiated": 1.0, "intermediate": 2.0, "poorly differentiated": 3.0}
CLINICAL = ["age", "er", "grade", "size"]


def load_breast_cancer() -> Cohort:
    from sksurv.datasets import load_breast_cancer as sksurv_breast_cancer

    x, y = sksurv_breast_cancer()
    genes = [c for c in x.columns if c not in CLINICAL]
    grade = x["grade"].astype(str).map(GRADE)
    grade = grade.fillna(float(np.median(grade.dropna())))
    clinical = np.column_stack([
        x["age"].to_numpy(dtype=float),
        (x["er"].astype(str) == "positive").to_numpy(dtype=float),
        grade.to_numpy(dtype=float),
        x["size"].to_numpy(dtype=float),
    ])
    return Cohort(
        ids=np.array([f"GSE7390-{i + 1:03d}" for i in range(len(x))]),
        time=y["t.tdm"].astype(float),
        event=y["e.tdm"].astype(int),
        modalities={"rna": x[genes].to_numpy(dtype=np.float32), "clinical": clinical.astype(np.float32)},
        feature_names={"rna": genes, "clinical": CLINICAL},
        time_unit="days",
        kinds={"rna": "rna", "clinical": "clinical"},
        name="breast-cancer",
    )
