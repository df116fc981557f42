"""Players of the coalition game: named sets of columns of the modality arrays.

By default a player is a modality (all its columns), and the game is today's
modality game. With feature groups (:mod:`.groups`) a player is a named group
of columns of one or more modalities, and the columns of a modality that are
in no group form one more player ``<modality>:rest``. The players always
partition the columns, so ``v(all) - v({})`` is the same as at the modality
level. A coalition keeps its players' columns (the patient's values) and masks
every other column with the masker's background value of that column
(:func:`intersurv.interactions.coalitions.evaluate_coalitions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import IntersurvError

REST = "rest"


@dataclass(frozen=True)
class Player:
    """One player: its name and, per modality it touches, the (sorted, unique) column indices it holds."""

    name: str
    columns: Mapping[str, np.ndarray]


def modality_players(widths: Mapping[str, int]) -> list[Player]:
    """The default players: one per modality (in the given order), holding all its columns."""
    return [Player(m, {m: np.arange(d)}) for m, d in widths.items()]


def rest_name(modality: str) -> str:
    """The name of the player holding a modality's columns that are in no group."""
    return f"{modality}:{REST}"


def players_from_columns(groups: Mapping[str, Mapping[str, np.ndarray]], widths: Mapping[str, int],
                         *, source: str = "groups", names: Mapping[str, list[str]] | None = None) -> list[Player]:
    """The groups (name -> modality -> column indices) followed by one ``<modality>:rest`` player per
    modality with columns in no group (modalities in ``widths`` order).

    Every column index must be in range and in at most one group; an :class:`IntersurvError` names the
    ``source``, the group and the column (its name in ``names``, else its index) otherwise.
    """
    owner: dict[tuple[str, int], str] = {}
    players = []
    for name, cols in groups.items():
        clean = {}
        for m, idx in cols.items():
            if m not in widths:
                raise IntersurvError(f"{source}: group {name!r}: unknown modality {m!r} "
                                     f"(modalities: {', '.join(widths)})")
            idx = np.unique(np.asarray(idx, dtype=np.intp))
            if len(idx) and (idx[0] < 0 or idx[-1] >= widths[m]):
                raise IntersurvError(f"{source}: group {name!r}: column index out of range for modality "
                                     f"{m!r} ({widths[m]} columns)")
            for i in idx.tolist():
                if (m, i) in owner:
                    col = names[m][i] if names and m in names else i
                    raise IntersurvError(f"{source}: column {m}:{col} is in two groups, {owner[m, i]!r} and {name!r}")
                owner[m, i] = name
            if len(idx):
                clean[m] = idx
        if not clean:
            raise IntersurvError(f"{source}: group {name!r} has no columns")
        players.append(Player(name, clean))
    for m, d in widths.items():
        rest = np.array([i for i in range(d) if (m, i) not in owner], dtype=np.intp)
        if len(rest):
            players.append(Player(rest_name(m), {m: rest}))
    return players


def column_masks(players: list[Player], widths: Mapping[str, int]) -> list[dict[str, np.ndarray]]:
    """Per player, per modality, a boolean ``(d_m,)`` mask of the columns it holds."""
    out = []
    for p in players:
        masks = {}
        for m, idx in p.columns.items():
            mask = np.zeros(widths[m], dtype=bool)
            mask[idx] = True
            masks[m] = mask
        out.append(masks)
    return out
