"""Patient id -> row position: the one lookup of patients by id."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import IntersurvError


def positions(ids: np.ndarray, wanted: Iterable[str], *, what: str = "patient") -> np.ndarray:
    """Row positions in ``ids`` (a cohort's unique patient ids) of the patients ``wanted``, in their order.

    A patient not in ``ids`` is an :class:`IntersurvError` naming the first one, prefixed by ``what``.
    """
    wanted = list(wanted)
    pos = pd.Index(ids).get_indexer(wanted)
    if (pos < 0).any():
        raise IntersurvError(f"{what} {wanted[int(np.argmax(pos < 0))]!r} is not in the cohort")
    return pos
