"""Patient-level train/test splits, stratified by event (and group/site).

Two protocols (docs/design.md section 3):

* **k-fold cross-validation** (:func:`kfold_splits`): the patients are cut into
  k disjoint test folds; every patient is in exactly one test fold, and the
  training set of fold f is everything else.
* **repeated hold-out** (:func:`holdout_split`): one test set of
  ``round(test_fraction * N)`` patients per seed (the glioma study's 80/20).

Stratification: the stratum of patient a is ``(event_a, group_a)`` (or just
``event_a`` without groups). Within every stratum the patients are shuffled
with ``numpy.random.default_rng(seed)``; then

* k-fold: the shuffled strata are laid end to end and patient number r in that
  sequence goes to fold ``r mod k``. Each stratum therefore spreads over the
  folds with counts differing by at most 1, and fold sizes differ by at most 1,
  however small a stratum is (no stratum is merged or dropped).
* hold-out: the test size is apportioned to the strata in proportion to their
  sizes by the largest-remainder method (ties to the earlier stratum in sorted
  order), so each stratum's test count is within 1 of
  ``test_fraction * n_stratum`` and the total is exact.

Indices are positions into the cohort's arrays (sorted ascending); the same
``(event, group, seed, k or fraction)`` always gives the same split.

Enough events: every test set should hold at least ``MIN_TEST_EVENTS`` events
(a C-index on one event is a coin toss) and so should its training part. With
the event stratification above, that needs ``MIN_TEST_EVENTS * k`` events for
k-fold CV and ``ceil(MIN_TEST_EVENTS / min(f, 1 - f))`` for a hold-out of
fraction f; :func:`check_enough_events` refuses fewer before a run starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IntersurvError

if TYPE_CHECKING:
    from .rundir import ProtocolConfig


MIN_TEST_EVENTS = 2


def check_enough_events(event: np.ndarray, protocol: "ProtocolConfig") -> None:
    """Raise unless the cohort has enough events for the protocol (see the module docstring):
    ``protocol.kind`` ``"cv"`` uses ``protocol.folds``, ``"holdout"`` ``protocol.test_fraction``."""
    n_events, n = int(np.sum(event)), len(event)
    if protocol.kind == "cv":
        need, what = MIN_TEST_EVENTS * protocol.folds, f"{protocol.folds}-fold cross-validation"
    else:
        f = protocol.test_fraction
        need, what = math.ceil(MIN_TEST_EVENTS / min(f, 1.0 - f) - 1e-9), f"a {f:g} hold-out"
    if n_events < need:
        raise IntersurvError(f"too few events: {n_events} events in {n} patients, need at least {need} for "
                             f"{what} ({MIN_TEST_EVENTS} per test set)")


@dataclass(frozen=True)
class Split:
    """One train/test split: positions into the cohort, both sorted ascending."""

    train: np.ndarray
    test: np.ndarray


def strata(event: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """Stratum label per patient: ``"<event>"`` or ``"<event>|<group>"``."""
    event = np.asarray(event).astype(int).astype(str)
    if group is None:
        return event.astype(object)
    return np.char.add(np.char.add(event, "|"), np.asarray(group).astype(str)).astype(object)


def _shuffled_strata(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """Positions of each stratum (strata in sorted label order), each shuffled."""
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        out.append(members[rng.permutation(len(members))])
    return out


def kfold_splits(event: np.ndarray, k: int, seed: int, group: np.ndarray | None = None) -> list[Split]:
    """Stratified k-fold CV: k splits whose test sets partition the patients."""
    n = len(event)
    if k < 2:
        raise IntersurvError(f"--folds must be >= 2 (got {k})")
    if k > n:
        raise IntersurvError(f"--folds {k} is more than the {n} patients")
    order = np.concatenate(_shuffled_strata(strata(event, group), seed))
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % k
    return [
        Split(train=np.flatnonzero(fold_of != f), test=np.flatnonzero(fold_of == f)) for f in range(k)
    ]


def holdout_split(
    event: np.ndarray, test_fraction: float, seed: int, group: np.ndarray | None = None
) -> Split:
    """Stratified hold-out: ``round(test_fraction * N)`` test patients, the rest train."""
    n = len(event)
    if not 0.0 < test_fraction < 1.0:
        raise IntersurvError(f"--holdout must be between 0 and 1 (got {test_fraction})")
    n_test = int(round(test_fraction * n))
    if n_test < 1 or n_test > n - 1:
        raise IntersurvError(f"--holdout {test_fraction} leaves {n_test} of {n} patients for testing")
    groups = _shuffled_strata(strata(event, group), seed)
    quota = np.array([len(g) for g in groups]) * n_test / n
    counts = np.floor(quota).astype(int)
    remainder = quota - counts
    # Largest remainder first; a stable sort keeps the earlier stratum on ties.
    for j in np.argsort(-remainder, kind="stable")[: n_test - counts.sum()]:
        counts[j] += 1
    test = np.sort(np.concatenate([g[:c] for g, c in zip(groups, counts)]))
    train = np.setdiff1d(np.arange(n), test)
    return Split(train=train, test=test)
