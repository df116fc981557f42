"""The validated inputs of a coalition game: :func:`prepare_game` -> :class:`Game`.

The patients to explain (arrays in the model's modality order, checked for
shape and finiteness), the players (one per modality, or the feature groups
of :mod:`.groups`), their optional ids, times and events, and the masker's
:class:`~.maskers.Background` built from the reference set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..cohort import Cohort
from ..errors import IntersurvError
from .coalitions import MAX_MODALITIES, Model
from .groups import Grouping, resolve_players
from .maskers import Background, make_background
from .players import Player

ArraysOrCohort = Mapping[str, np.ndarray] | Cohort


@dataclass(frozen=True)
class Game:
    """The validated inputs of a coalition game: arrays in modality order, the players and the masker."""

    X: dict[str, np.ndarray]
    background: Background
    ids: np.ndarray | None
    time: np.ndarray | None
    event: np.ndarray | None
    players: list[Player]

    @property
    def modalities(self) -> list[str]:
        return list(self.X)

    @property
    def player_names(self) -> list[str]:
        return [p.name for p in self.players]


def _arrays(what: str, data: Mapping[str, np.ndarray], modalities: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for m in modalities:
        if m not in data:
            raise IntersurvError(f"{what} has no modality {m!r} (has {', '.join(map(str, data)) or 'none'})")
        x = np.asarray(data[m])
        if x.ndim != 2 or x.shape[0] == 0:
            raise IntersurvError(f"{what} modality {m!r} has shape {x.shape}; expected (patients, features)")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        bad = ~np.isfinite(x) & ~np.isnan(x).all(axis=1, keepdims=True)  # an all-NaN row: modality missing
        if bad.any():
            raise IntersurvError(f"{what} modality {m!r} has {int(bad.sum())} NaN/inf value(s), "
                                 f"first in row {int(np.argwhere(bad)[0][0])}")
        out[m] = x
    sizes = {m: len(x) for m, x in out.items()}
    if len(set(sizes.values())) > 1:
        raise IntersurvError(f"{what} modalities have different numbers of rows: {sizes}")
    return out


def _outcome_array(name: str, values: Any, n: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise IntersurvError(f"{name} has {len(arr)} values for {n} patients")
    return arr


def prepare_game(
    model: Model,
    X: ArraysOrCohort,
    *,
    reference: ArraysOrCohort | None,
    masker: str,
    background: int,
    seed: int,
    time: Any = None,
    event: Any = None,
    groups: Grouping | None = None,
    feature_names: Mapping[str, list[str]] | None = None,
) -> Game:
    """Validate the inputs of :func:`explain`, resolve the players and build the masker's background.

    ``groups`` (:mod:`.groups`; None: one player per modality) names columns by ``feature_names``
    (default: the Cohort's, else column indices).
    """
    ids = None
    if isinstance(X, Cohort):
        ids = X.ids
        time = X.time if time is None else time
        event = X.event if event is None else event
        feature_names = X.feature_names if feature_names is None else feature_names
        X = X.X
    modalities = [str(m) for m in getattr(model, "modalities", None) or list(X)]
    if groups is None and not 2 <= len(modalities) <= MAX_MODALITIES:
        raise IntersurvError(f"interaction needs 2 to {MAX_MODALITIES} modalities; "
                             f"got {len(modalities)} ({', '.join(modalities)})")
    Xd = _arrays("X", X, modalities)
    n = len(Xd[modalities[0]])
    if reference is None:
        reference = getattr(model, "reference", None)
    if isinstance(reference, Cohort):
        reference = reference.X
    ref = None
    if reference is not None:
        ref = _arrays("reference", reference, modalities)
        for m in modalities:
            if ref[m].shape[1] != Xd[m].shape[1]:
                raise IntersurvError(f"reference modality {m!r} has {ref[m].shape[1]} features, "
                                     f"X has {Xd[m].shape[1]}")
    elif masker != "zero":
        raise IntersurvError(f"no reference set for masker {masker!r}: pass reference= (the training data); "
                             "the explained patients are never used as their own reference")
    time_arr, event_arr = _outcome_array("time", time, n), _outcome_array("event", event, n)
    if event_arr is not None and not np.isin(event_arr, (0.0, 1.0)).all():
        raise IntersurvError("event must be 0 or 1 for every patient")
    players = resolve_players(groups, feature_names or {}, {m: x.shape[1] for m, x in Xd.items()})
    bg = make_background(masker, ref, Xd, k=background, rng=np.random.default_rng(seed))
    return Game(Xd, bg, ids, time_arr, event_arr, players)


