"""intersurv: train multimodal survival models and audit their cross-modal interaction.

Public API (see the docs for each):

* :class:`Cohort`, :func:`load_cohort` - the data;
* :func:`simulate` - cohorts with a known answer;
* :func:`fit` - fusion architectures trained with a Cox loss;
* :func:`explain` - InterSHAP for survival models.

Heavy submodules (torch) are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .cohort import Cohort
from .datasets import load_cohort
from .errors import CohortError, IntersurvError

__version__ = "0.1.0"

_LAZY = {
    "simulate": "intersurv.datasets.simulate",
    "fit": "intersurv.training.fit",
    "explain": "intersurv.interactions.explain",
}

__all__ = ["Cohort", "CohortError", "IntersurvError", "load_cohort", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'intersurv' has no attribute {name!r}")
