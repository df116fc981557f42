"""BagSet (intersurv.bags) and bag modalities in the Cohort."""

from __future__ import annotations

import numpy as np
import pytest

from intersurv.bags import BagSet, write_memmap_bags
from intersurv.cohort import Cohort
from intersurv.errors import CohortError


def _bags(seed: int = 0, n: int = 5, width: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(k), width)).astype(np.float32) for k in rng.integers(1, 9, size=n)]


def _cohort(bagset: BagSet, **kw) -> Cohort:
    n = len(bagset)
    rng = np.random.default_rng(1)
    return Cohort(ids=[f"p{i}" for i in range(n)], time=np.arange(1, n + 1, dtype=float), event=np.ones(n),
                  modalities={"rna": rng.normal(size=(n, 2)), **kw.pop("modalities", {})},
                  bags={"wsi": bagset}, **kw)


def test_bagset_from_arrays_matches_numpy() -> None:
    bags = _bags()
    coords = [np.arange(2 * len(x)).reshape(-1, 2) for x in bags]
    slides = [[f"s{i}-{j % 2}" for j in range(len(x))] for i, x in enumerate(bags)]
    bs = BagSet.from_arrays(bags, coords, slides=slides)
    assert len(bs) == 5 and bs.width == 3
    np.testing.assert_array_equal(bs.sizes(), [len(x) for x in bags])
    np.testing.assert_array_equal(bs.bag(2), bags[2])
    np.testing.assert_array_equal(bs.coords(3), coords[3])
    assert list(bs.slide_of_patch(1)) == slides[1]
    assert bs.informative(0) is None
    ref = np.stack([x.astype(np.float64).mean(axis=0) for x in bags]).astype(np.float32)
    np.testing.assert_allclose(bs.pooled(), ref, rtol=1e-6)
    sub = bs.subset([4, 0])
    np.testing.assert_array_equal(sub.bag(0), bags[4])
    np.testing.assert_array_equal(sub.pooled(), bs.pooled()[[4, 0]])
    np.testing.assert_array_equal(sub.sizes(), [len(bags[4]), len(bags[0])])


def test_memmap_round_trip_keeps_bags_and_annotations(tmp_path) -> None:
    bags = _bags(3)
    inf = [np.arange(len(x)) % 3 == 0 for x in bags]
    slides = [[f"slide{i}"] * len(x) for i, x in enumerate(bags)]
    bs = BagSet.from_arrays(bags, slides=slides, informative=inf)
    mm = write_memmap_bags(bs, tmp_path / "bags")
    assert mm.describe() == str(tmp_path / "bags")
    for a in range(len(bags)):
        np.testing.assert_array_equal(mm.bag(a), bags[a])
        np.testing.assert_array_equal(mm.informative(a), inf[a])
        assert list(mm.slide_of_patch(a)) == slides[a]
    assert mm.coords(0) is None
    half = write_memmap_bags(bs, tmp_path / "bags", dtype="float16")  # replaces the directory
    assert half.bag(1).dtype == np.float32
    np.testing.assert_allclose(half.bag(1), bags[1], atol=2e-3)


def test_cohort_fills_checks_and_subsets_bag_modalities() -> None:
    bs = BagSet.from_arrays(_bags())
    c = _cohort(bs)
    assert c.kinds["wsi"] == "bags" and c.kinds["rna"] == "tabular"
    np.testing.assert_array_equal(c.modalities["wsi"], bs.pooled())
    sub = c.subset([3, 1])
    np.testing.assert_array_equal(sub.bags["wsi"].bag(0), bs.bag(3))
    np.testing.assert_array_equal(sub.modalities["wsi"], bs.pooled()[[3, 1]])
    assert sub.kinds["wsi"] == "bags"
    assert "wsi" in c.select_modalities(["wsi"]).bags and not c.select_modalities(["rna"]).bags
    assert "patches per patient" in c.summary()
    with pytest.raises(CohortError, match="not the pooled mean"):
        _cohort(bs, modalities={"wsi": np.zeros((5, 3))})
    with pytest.raises(CohortError, match="4 bags for 5 patients"):
        Cohort(ids=list("abcde"), time=np.ones(5), event=np.ones(5), modalities={}, bags={"wsi": bs.subset([0, 1, 2, 3])})
    with pytest.raises(CohortError, match="kind 'bags' but has no bags"):
        Cohort(ids=list("ab"), time=np.ones(2), event=np.ones(2), modalities={"x": np.ones((2, 1))},
               kinds={"x": "bags"})


def test_empty_bag_is_a_missing_modality() -> None:
    bags = _bags()
    bags[2] = np.zeros((0, 3), np.float32)
    c = _cohort(BagSet.from_arrays(bags))
    assert c.missing["wsi"].tolist() == [False, False, True, False, False]
