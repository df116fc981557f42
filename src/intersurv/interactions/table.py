"""``interactions.csv``: the one writer and the one reader of an explanation's per-patient table.

One row per explained patient: the columns of :meth:`Explanation.to_frame`
followed by the raw coalition values ``v:<coalition>`` (coalition bit order,
``v:{}`` first), from which :func:`read_explanation` rebuilds the
:class:`~.explanation.Explanation` exactly. ``intersurv explain`` and the
audit's per-unit step write it with :func:`write_interactions`; the audit's
results read it with :func:`read_interactions`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import IntersurvError
from ..io.atomic import write_text_atomic
from .explanation import Explanation
from .settings import ExplainSettings

#: The file name, inside a unit's directory.
FILE_NAME = "interactions.csv"

VALUE_PREFIX = "v:"


def write_interactions(path: str | Path, exp: Explanation) -> None:
    """Write ``exp`` to ``path`` (atomically): its per-patient frame and its coalition values."""
    values = pd.DataFrame(exp.coalition_values, columns=[f"{VALUE_PREFIX}{label}" for label in exp.coalitions])
    frame = pd.concat([exp.to_frame(), values], axis=1)  # one concat: 2^M columns inserted one by one fragment
    write_text_atomic(path, frame.to_csv(index=False))


def read_interactions(path: str | Path, n_modalities: int) -> pd.DataFrame:
    """The table at ``path``; an :class:`IntersurvError` unless it holds the 2^M coalition values."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"patient_id": str})
    except FileNotFoundError:
        raise IntersurvError(f"{path}: missing") from None
    n_values = sum(c.startswith(VALUE_PREFIX) for c in frame.columns)
    if n_values != 2**n_modalities:
        raise IntersurvError(f"{path}: has {n_values} coalition value columns ({VALUE_PREFIX}...), expected "
                             f"{2**n_modalities} for {n_modalities} modalities; it was not written by this "
                             "version of intersurv or was overwritten")
    return frame


def coalition_values(frame: pd.DataFrame) -> np.ndarray:
    """The ``(N, 2^M)`` coalition values of a table read by :func:`read_interactions`."""
    return frame[[c for c in frame.columns if c.startswith(VALUE_PREFIX)]].to_numpy()


def read_explanation(frames: list[pd.DataFrame], modalities: list[str], settings: ExplainSettings) -> Explanation:
    """The :class:`Explanation` of the patients of ``frames`` (tables of :func:`read_interactions`) pooled."""
    frame = pd.concat(frames, ignore_index=True)
    return Explanation(coalition_values(frame), modalities, masker=settings.masker, output=settings.output,
                       aggregation=settings.aggregation, background=settings.background,
                       bootstrap=settings.bootstrap, ids=frame["patient_id"].to_numpy(),
                       time=frame["time"].to_numpy(), event=frame["event"].to_numpy())
