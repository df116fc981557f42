"""Synergy or redundancy: a signed decomposition of each pairwise interaction (docs/design.md section 2).

For one patient and a pair of players (modalities) ``i, j`` take the Möbius
coefficients of the patient's coalition game (:mod:`.decomposition`)::

    m_i = v(i) - v({}),   m_j = v(j) - v({}),   q = m_ij = v(ij) - v(i) - v(j) + v({})

``m = m_i + m_j`` is the pair's *separate* effect, ``m + q`` its *joint*
effect. The interaction is **synergistic** where the joint effect is larger
in magnitude than the separate one and **redundant** where it is smaller::

    delta = |m + q| - |m|                          (|delta| <= |q|)
    syn   = (|q| + delta) / 2,   red = (|q| - delta) / 2   (both >= 0, syn + red = |q|)

so each patient's interaction mass ``|q|`` is split into a synergistic and a
redundant part. Case by case: ``q`` of the sign of ``m`` (or ``m = 0``): all
synergy; ``q`` against ``m`` with ``|q| <= |m|``: all redundancy (the joint
effect shrinks towards 0); ``q`` against ``m`` with ``|q| > |m|`` (crossover:
the joint effect reverses the separate one): ``red = |m|`` (the cancelled
part), ``syn = |q| - |m|`` (the part beyond it). Where ``|q| <= |m|``,
``delta = sign(m) q``.

Aggregated over patients (weights ``w_a``, by default 1)::

    S = sum_a w_a syn_a / sum_a w_a,   R = sum_a w_a red_a / sum_a w_a
    synergy share = S / (S + R),       redundancy share = R / (S + R)

``S + R`` is the mean ``|m_ij|``, the pair's ``abs`` interaction mass (for two
modalities ``2 Phi_12`` of the ``abs`` aggregation), so the two shares split
the pair's part of the ``abs`` InterSHAP and add up to 1 (NaN when the pair
has no interaction at all). ``net = S - R`` is the mean ``delta``.

**Invariances.** All three per-patient numbers depend on ``m`` and ``q`` only
through ``|m|``, ``|q|`` and ``|m + q|``, so they are unchanged by a shift of
the output (``v -> v + c``: Möbius coefficients of non-empty sets do not
move), by swapping ``i`` and ``j``, and by flipping the sign of the whole
output (``v -> -v``: a protective and a risk-raising pair are classified
alike); scaling the output by ``c > 0`` scales ``S`` and ``R`` by ``c`` and
leaves the shares unchanged. The decomposition is continuous in ``(m, q)``,
so main effects near 0 do not make it jump (``s = sign(m) q`` would).

**Limits.** (1) Main effects of opposite sign cancel in ``m``, and with
``m = 0`` every bit of interaction counts as synergy: the pair shows no net
separate effect but a joint one (XOR-like). (2) The split is relative to
``v({})``, i.e. to the masker and its reference set: a bilinear term
``g x_i x_j`` on centred inputs is synergistic where ``x_i, x_j`` lie on the
side where the main effects and ``g`` agree and redundant on the other, so
the same model can read differently against another baseline. (3) It is
scale-dependent: an additive log-risk is not additive on the ``risk`` scale,
where ``exp`` makes risk-raising pairs synergistic and protective pairs
redundant. (4) With more than two players the pair's Möbius coefficients are
those with every other player masked.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from .decomposition import n_modalities_of


def split_interaction(main_i: np.ndarray, main_j: np.ndarray,
                      interaction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient ``(syn, red)`` of the module docstring from ``m_i``, ``m_j`` and ``q = m_ij``
    (arrays of one shape, on the output scale); ``syn + red = |q|``."""
    m = np.asarray(main_i, dtype=np.float64) + np.asarray(main_j, dtype=np.float64)
    q = np.asarray(interaction, dtype=np.float64)
    mass = np.abs(q)
    # the cases of the module docstring (exact, unlike (|q| +- delta) / 2 in floating point)
    red = np.where(m * q < 0, np.minimum(mass, np.abs(m)), 0.0)
    return mass - red, red


def masses(syn: np.ndarray, red: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``(..., 2)``: weighted means ``(S, R)`` over patients (last axis of ``syn``, ``red``); ``weights`` is
    ``(N,)`` or ``(B, N)`` (bootstrap counts), giving ``(2,)`` or ``(B, 2)``."""
    if weights is None:
        return np.array([syn.mean(), red.mean()])
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum(axis=-1)
    return np.stack([w @ syn / total, w @ red / total], axis=-1)


def shares_of(mass: np.ndarray) -> np.ndarray:
    """Synergy share ``S / (S + R)`` from ``(..., 2)`` masses (NaN where ``S + R = 0``)."""
    total = mass[..., 0] + mass[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, mass[..., 0] / np.where(total > 0, total, 1.0), np.nan)


def pair_parts(mobius: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(syn, red)`` per patient of players ``i``, ``j`` from ``(N, 2^M)`` Möbius coefficients
    (bit order of :mod:`.coalitions`)."""
    return split_interaction(mobius[:, 1 << i], mobius[:, 1 << j], mobius[:, (1 << i) | (1 << j)])


def synergy_summary(mobius: np.ndarray, players: list[str],
                    weights: np.ndarray | None = None) -> dict[str, Any]:
    """Every pair's and the overall decomposition of ``(N, 2^M)`` Möbius coefficients.

    Returns ``{"pairs": {"<a>|<b>": entry}, "overall": entry}`` with ``entry = {"synergy",
    "redundancy" (the masses S, R: weighted mean over patients, output units), "net" (S - R),
    "synergy_share", "redundancy_share" (S / (S + R), R / (S + R)), "kind"}``; ``kind`` is
    ``"synergy"`` where ``S > R``, ``"redundancy"`` where ``R > S``, ``"balanced"`` where they are equal,
    and ``"none"`` (masses 0, shares None) where the pair's ``m_ij`` is 0 but for float32 rounding (an
    additive model). ``overall`` sums
    ``S`` and ``R`` over the pairs.
    """
    from ..analysis.prognostic import zero_up_to_float_error

    if n_modalities_of(mobius) != len(players):
        raise ValueError(f"{mobius.shape[1]} Möbius coefficients for {len(players)} players")
    pairs = {}
    total = np.zeros(2)
    for i, j in combinations(range(len(players)), 2):
        if zero_up_to_float_error(mobius[:, (1 << i) | (1 << j)], mobius):
            mass = np.zeros(2)
        else:
            mass = masses(*pair_parts(mobius, i, j), weights)
        total += mass
        pairs[f"{players[i]}|{players[j]}"] = _entry(mass)
    return {"pairs": pairs, "overall": _entry(total)}


def _entry(mass: np.ndarray) -> dict[str, Any]:
    s, r = float(mass[0]), float(mass[1])
    share = None if s + r <= 0 else s / (s + r)
    kind = "none" if share is None else ("synergy" if s > r else "redundancy" if r > s else "balanced")
    return {"synergy": s, "redundancy": r, "net": s - r, "synergy_share": share,
            "redundancy_share": None if share is None else 1 - share, "kind": kind}


def share_interval(mobius: np.ndarray, players: list[str], n_boot: int, seed: int,
                   level: float = 0.95) -> list[float | None]:
    """Percentile bootstrap interval over patients of the overall synergy share (``[None, None]`` when
    ``n_boot`` is 0 or no pair interacts)."""
    summary = synergy_summary(mobius, players)
    if n_boot < 1 or summary["overall"]["synergy_share"] is None:
        return [None, None]
    rng = np.random.default_rng(seed)
    n = len(mobius)
    weights = np.zeros((n_boot, n))
    np.add.at(weights, (np.arange(n_boot)[:, None], rng.integers(n, size=(n_boot, n))), 1.0)
    total = np.zeros((n_boot, 2))
    for (i, j), entry in zip(combinations(range(len(players)), 2), summary["pairs"].values()):
        if entry["kind"] != "none":
            total += masses(*pair_parts(mobius, i, j), weights)
    q = np.nanquantile(shares_of(total), [(1 - level) / 2, (1 + level) / 2])
    return [float(v) for v in q]
