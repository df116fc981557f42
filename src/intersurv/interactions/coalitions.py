"""Coalitions of players and the batched evaluation of the coalition game.

A player is a modality by default, or a named group of columns (:mod:`.players`);
"modality" below stands for "player" throughout.

**Bit order.** With players ``m_0, ..., m_{M-1}`` (in the explanation's
order), coalition number ``c`` in ``0 .. 2^M - 1`` is the set of players
``m_i`` whose bit ``1 << i`` is set in ``c``: ``c = 0`` is the empty
coalition, ``c = 2^M - 1`` all players; for M = 2, the coalitions are
``[{}, {m_0}, {m_1}, {m_0, m_1}]``. Every ``(N, 2^M)`` array of coalition
values in intersurv uses this order.

**The game.** ``v_a(S) = mean_k g(f(x_a^S, z_{a,k}^{-S}))``: the columns of the
players in S keep patient a's values, the others take the masker's background
rows ``z_{a,k}`` column by column (see :mod:`.maskers`), f is the model
(log-risk) and g the output scale (see :mod:`.outputs`).

**Cost.** A coalition is evaluated on batches of at most ``batch_size`` model
rows (``patient x background`` pairs; at least one patient per batch), so
memory is bounded whatever N. Two coalitions need fewer rows: the full
coalition masks nothing (N rows, whatever K), and the empty coalition does not
depend on the patient when the background is shared (K rows, once). Total
model rows: ``N + (2^M - 2) N K + K`` (shared background) or ``2^M N K`` minus
the full coalition's saving (per-patient background).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from functools import lru_cache
from typing import Callable, ContextManager

import numpy as np

from ..errors import IntersurvError
from .maskers import Background
from .players import Player, column_masks, modality_players

Model = Callable[[dict[str, np.ndarray]], np.ndarray]
Transform = Callable[[np.ndarray], np.ndarray]

#: The largest number of players (modalities or groups) explained exactly (2^12 = 4096 coalitions).
MAX_MODALITIES = 12


@lru_cache(maxsize=None)
def coalition_members(n_modalities: int) -> np.ndarray:
    """Boolean ``(2^M, M)``: ``[c, i]`` is True iff modality i is in coalition c."""
    c = np.arange(2**n_modalities)[:, None]
    members = ((c >> np.arange(n_modalities)[None, :]) & 1).astype(bool)
    members.setflags(write=False)
    return members


@lru_cache(maxsize=None)
def coalition_sizes(n_modalities: int) -> np.ndarray:
    """``(2^M,)`` integer sizes |S| of the coalitions, in bit order."""
    sizes = coalition_members(n_modalities).sum(axis=1)
    sizes.setflags(write=False)
    return sizes


def coalition_label(c: int, modalities: list[str]) -> str:
    """Human-readable name of coalition ``c``: modality names joined by ``:``, or ``{}``."""
    names = [m for i, m in enumerate(modalities) if c >> i & 1]
    return ":".join(names) if names else "{}"


def _no_grad() -> ContextManager[object]:
    """``torch.no_grad()`` when torch is loaded (no autograd graph), else nothing."""
    torch = sys.modules.get("torch")
    return torch.no_grad() if torch is not None else nullcontext()


def _call(model: Model, rows: dict[str, np.ndarray], transform: Transform, coalition: str) -> np.ndarray:
    """``transform(model(rows))`` as a float64 ``(n_rows, J)`` array, checked."""
    n = len(next(iter(rows.values())))
    h = np.asarray(model(rows), dtype=np.float64)
    if h.shape not in ((n,), (n, 1)):
        raise IntersurvError(
            f"model returned shape {h.shape} for {n} rows of coalition {coalition}; expected ({n},) log-risks"
        )
    h = h.reshape(n)
    if not np.isfinite(h).all():
        raise IntersurvError(
            f"model returned {int((~np.isfinite(h)).sum())} non-finite log-risk(s) on coalition {coalition}"
        )
    g = transform(h)
    return g.reshape(n, -1)


def _kept_columns(c: int, masks: list[dict[str, np.ndarray]], widths: dict[str, int]) -> dict[str, np.ndarray | bool]:
    """Per modality, which columns coalition ``c`` keeps: True (all), False (none) or a boolean mask."""
    keep: dict[str, np.ndarray] = {m: np.zeros(d, dtype=bool) for m, d in widths.items()}
    for i, player in enumerate(masks):
        if c >> i & 1:
            for m, mask in player.items():
                keep[m] |= mask
    return {m: bool(k.all()) if k.all() or not k.any() else k for m, k in keep.items()}


#: A partly kept modality whose kept columns form at most this many contiguous runs is assembled by slice
#: copies (several times faster than an element-wise select); a scattered mask uses ``np.where``.
MAX_SLICE_RUNS = 16


def _runs(mask: np.ndarray) -> np.ndarray:
    """``(R, 2)`` start and stop of the contiguous runs of True in a boolean vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    return edges.reshape(-1, 2)


def _mixed(x: np.ndarray, keep: np.ndarray, background: Background, m: str, idx: np.ndarray,
           lacking: bool) -> np.ndarray:
    """``(b K, d)`` rows of a partly kept modality: the patients' values ``x`` ``(b, d)`` in the ``keep``
    columns, each patient's K background rows (``idx``, ``(b K,)``) elsewhere; with ``lacking``, a
    patient's NaN (a modality the patient lacks) takes the background value too."""
    b, d = x.shape
    k = background.n_per_patient
    patient = x[:, None, :]
    bg = (background.values[m][background.index[0]][None] if background.shared
          else background.values[m][idx].reshape(b, k, d))
    runs = None if lacking else _runs(keep)
    if runs is None or len(runs) > MAX_SLICE_RUNS:
        kept = keep & ~np.isnan(patient) if lacking else keep
        return np.where(kept, patient, bg).reshape(b * k, d)
    out = np.empty((b, k, d), dtype=np.result_type(x, bg))
    out[...] = bg
    for lo, hi in runs:
        out[:, :, lo:hi] = patient[:, :, lo:hi]
    return out.reshape(b * k, d)


def evaluate_coalitions(
    model: Model,
    X: dict[str, np.ndarray],
    background: Background,
    transform: Transform,
    *,
    players: list[Player] | None = None,
    batch_size: int = 4096,
) -> np.ndarray:
    """All coalition values ``v_a(S)``: a float64 array ``(N, 2^P, J)``.

    ``X`` maps the modality names, in order, to ``(N, d_m)`` arrays;
    ``players`` are the P players (:mod:`.players`; default one per modality,
    in the order of ``X``); ``transform`` maps ``(n,)`` log-risks to ``(n, J)``
    outputs (J output scales evaluated from the same forward passes, e.g.
    survival at J times). Each value is the mean over the patient's K
    background rows of the transformed model output (see the module docstring
    for the bit order and the cost). A coalition keeps the columns of its
    players and takes every other column from the background row, column by
    column; a modality whose columns are all kept (all masked) is passed as
    the patient's (the background's) rows, so the default players evaluate
    exactly the arrays of the modality game. A patient who lacks a modality
    (an all-NaN row, see :attr:`intersurv.cohort.Cohort.missing`) gets the
    background's values in the kept columns of a partly kept modality (a
    partly NaN row is not an input the model knows; under the mean masker and
    a model imputing the training mean this is what keeping the whole
    modality gives).
    """
    if batch_size < 1:
        raise IntersurvError(f"batch_size must be >= 1, got {batch_size}")
    modalities = list(X)
    widths = {m: X[m].shape[1] for m in modalities}
    players = players if players is not None else modality_players(widths)
    names = [p.name for p in players]
    masks = column_masks(players, widths)
    n_players = len(players)
    n = len(X[modalities[0]])
    full = 2**n_players - 1
    k = background.n_per_patient
    per_batch = max(1, batch_size // k)
    out: np.ndarray | None = None

    def store(c: int, rows: slice | np.ndarray, values: np.ndarray) -> None:
        nonlocal out
        if out is None:
            out = np.empty((n, 2**n_players, values.shape[-1]), dtype=np.float64)
        out[rows, c] = values

    lacking = {m: bool(np.isnan(X[m]).any()) for m in modalities}

    def patient_rows(m: str, sl: slice) -> np.ndarray:
        return np.repeat(X[m][sl], k, axis=0) if k > 1 else X[m][sl]

    with _no_grad():
        for c in range(2**n_players):
            label = coalition_label(c, names)
            if c == full:
                for start in range(0, n, batch_size):
                    sl = slice(start, min(start + batch_size, n))
                    store(c, sl, _call(model, {m: X[m][sl] for m in modalities}, transform, label))
                continue
            if c == 0 and background.shared:
                idx = background.index[0]
                rows = {m: background.values[m][idx] for m in modalities}
                store(c, slice(None), _call(model, rows, transform, label).mean(axis=0))
                continue
            keep = _kept_columns(c, masks, widths)
            for start in range(0, n, per_batch):
                sl = slice(start, min(start + per_batch, n))
                b = sl.stop - sl.start
                idx = background.index[sl].reshape(-1)
                rows = {}
                for m in modalities:
                    if keep[m] is True:
                        rows[m] = patient_rows(m, sl)
                    elif keep[m] is False:
                        rows[m] = background.values[m][idx]
                    else:
                        rows[m] = _mixed(X[m][sl], keep[m], background, m, idx, lacking[m])
                g = _call(model, rows, transform, label)
                store(c, sl, g.reshape(b, k, -1).mean(axis=1))
    assert out is not None
    return out
