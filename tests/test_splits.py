"""Patient-level splits: CV folds partition the patients, are stratified by event and
group, and are reproducible; hold-out sizes and strata are exact."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from intersurv.errors import IntersurvError
from intersurv.training.splits import holdout_split, kfold_splits, strata


def _outcomes(n: int = 203, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    event = (rng.random(n) < 0.35).astype(int)
    group = rng.choice(["high", "low", "mid"], size=n, p=[0.12, 0.6, 0.28])
    return event, group


@pytest.mark.parametrize("k", [2, 5, 7])
def test_kfold_partitions_the_patients(k: int) -> None:
    event, group = _outcomes()
    splits = kfold_splits(event, k, seed=3, group=group)
    assert len(splits) == k
    tests = np.concatenate([s.test for s in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(len(event)))  # each patient in one test fold
    for s in splits:
        assert np.intersect1d(s.train, s.test).size == 0
        np.testing.assert_array_equal(np.union1d(s.train, s.test), np.arange(len(event)))
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("k", [3, 5])
def test_kfold_is_stratified_by_event_and_group(k: int) -> None:
    event, group = _outcomes()
    labels = strata(event, group)
    splits = kfold_splits(event, k, seed=11, group=group)
    for label in set(labels):
        counts = [int((labels[s.test] == label).sum()) for s in splits]
        assert max(counts) - min(counts) <= 1, (label, counts)
    # Per stratum, the same spread over the folds as scikit-learn's StratifiedKFold.
    ref = [Counter(labels[test]) for _, test in
           StratifiedKFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels)]
    ours = [Counter(labels[s.test]) for s in splits]
    for label in set(labels):
        assert sorted(c[label] for c in ours) == sorted(c[label] for c in ref), label


def test_kfold_without_group_stratifies_by_event_only() -> None:
    event, group = _outcomes()
    splits = kfold_splits(event, 4, seed=0)
    counts = [int(event[s.test].sum()) for s in splits]
    assert max(counts) - min(counts) <= 1
    # the group is then not balanced by construction: different from the grouped split
    grouped = kfold_splits(event, 4, seed=0, group=group)
    assert any(not np.array_equal(a.test, b.test) for a, b in zip(splits, grouped))


def test_kfold_is_seeded() -> None:
    event, group = _outcomes()
    a = kfold_splits(event, 5, seed=4, group=group)
    b = kfold_splits(event, 5, seed=4, group=group)
    c = kfold_splits(event, 5, seed=5, group=group)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_tiny_strata_are_spread_not_dropped() -> None:
    event = np.array([1, 0, 0, 0, 0, 0, 0, 1, 0, 0])
    group = np.array(["a"] * 9 + ["b"])  # a stratum of one patient
    splits = kfold_splits(event, 3, seed=0, group=group)
    np.testing.assert_array_equal(np.sort(np.concatenate([s.test for s in splits])), np.arange(10))
    assert [int(event[s.test].sum()) for s in splits].count(0) == 1  # 2 events over 3 folds


@pytest.mark.parametrize("fraction", [0.2, 0.25, 1 / 3])
def test_holdout_sizes_and_strata(fraction: float) -> None:
    event, group = _outcomes()
    labels = strata(event, group)
    s = holdout_split(event, fraction, seed=2, group=group)
    n = len(event)
    assert len(s.test) == round(fraction * n)
    assert np.intersect1d(s.train, s.test).size == 0
    np.testing.assert_array_equal(np.union1d(s.train, s.test), np.arange(n))
    for label in set(labels):
        n_s = int((labels == label).sum())
        got = int((labels[s.test] == label).sum())
        assert abs(got - fraction * n_s) < 1.0, (label, got, fraction * n_s)


def test_holdout_is_seeded_and_varies_with_seed() -> None:
    event, group = _outcomes()
    a = holdout_split(event, 0.2, seed=0, group=group)
    np.testing.assert_array_equal(a.test, holdout_split(event, 0.2, seed=0, group=group).test)
    assert not np.array_equal(a.test, holdout_split(event, 0.2, seed=1, group=group).test)


@pytest.mark.parametrize("call, match", [
    (lambda e: kfold_splits(e, 1, 0), "folds must be >= 2"),
    (lambda e: kfold_splits(e, 500, 0), "more than the 203 patients"),
    (lambda e: holdout_split(e, 1.0, 0), "between 0 and 1"),
    (lambda e: holdout_split(e, 0.001, 0), "leaves 0 of 203"),
])
def test_bad_protocols_are_user_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    event, _ = _outcomes()
    with pytest.raises(IntersurvError, match=match):
        call(event)
