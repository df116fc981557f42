"""BagSet (intersurv.bags) and bag modalities in the Cohort."""

from __future__ import annotations

import numpy as np
import pytest

from intersurv.bags import BagSet, write_bag_dir
from intersurv.cohort import Cohort
from intersurv.errors import CohortError


def _umask() -> int:
    from intersurv.io.atomic import current_umask

    return current_umask()


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
    scratch = bs.bag(2)
    scratch[:] = 0  # a copy: the BagSet is unchanged
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


def test_bag_dir_round_trip_keeps_bags_and_annotations(tmp_path) -> None:
    bags = _bags(3)
    inf = [np.arange(len(x)) % 3 == 0 for x in bags]
    slides = [[f"slide{i}"] * len(x) for i, x in enumerate(bags)]
    bs = BagSet.from_arrays(bags, slides=slides, informative=inf)
    mm = write_bag_dir(bs, tmp_path / "bags")
    assert mm.describe() == str(tmp_path / "bags")
    for a in range(len(bags)):
        np.testing.assert_array_equal(mm.bag(a), bags[a])
        np.testing.assert_array_equal(mm.informative(a), inf[a])
        assert list(mm.slide_of_patch(a)) == slides[a]
    assert mm.coords(0) is None
    import pickle

    again = pickle.loads(pickle.dumps(mm))  # as sent to a worker process: the file is reopened there
    np.testing.assert_array_equal(again.bag(4), bags[4])
    np.testing.assert_array_equal(mm.pooled(), bs.pooled())  # stored beside the bags, from what was stored
    assert oct((tmp_path / "bags").stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    half = write_bag_dir(bs, tmp_path / "bags", dtype="float16")  # replaces the directory
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


# ---------------------------------------------------------------- .h5 bags in cohort directories
def _write_h5(path, features, coords=None, batched=False) -> None:
    import h5py

    with h5py.File(path, "w") as fh:
        fh.create_dataset("features", data=features[None] if batched else features)
        if coords is not None:
            fh.create_dataset("coords", data=coords)


def _bag_cohort_dir(root, *, slides_csv=False, width=4, seed=0):
    """clinical.csv for 4 patients, rna.csv, and a wsi_h5/ directory: TCGA-named slides (patient 2 has two,
    one stored as (1, n, d) without coords), or arbitrary names mapped by slides.csv."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = [f"TCGA-AB-000{i}" for i in range(4)]
    pd.DataFrame({"patient_id": ids, "time": [5.0, 7.0, 9.0, 11.0], "event": [1, 0, 1, 1]}).to_csv(
        root / "clinical.csv", index=False)
    pd.DataFrame({"patient_id": ids, "g1": rng.normal(size=4), "g2": rng.normal(size=4)}).to_csv(
        root / "rna.csv", index=False)
    h5 = root / "wsi_h5"
    h5.mkdir()
    per_patient = {}
    rows = []
    for i, pid in enumerate(ids):
        parts = []
        for s in range(2 if i == 2 else 1):
            x = rng.normal(size=(3 + i + s, width)).astype(np.float32)
            stem = f"slide{i}{s}" if slides_csv else f"{pid}-01Z-00-DX{s + 1}"
            odd = i == 2 and s == 1
            _write_h5(h5 / f"{stem}.h5", x, coords=None if odd else np.arange(2 * len(x)).reshape(-1, 2), batched=odd)
            rows.append((stem, pid))
            parts.append(x)
        per_patient[pid] = np.concatenate(parts)
    toml = ['name = "bagcohort"', "", "[modalities.rna]", 'file = "rna.csv"', "", "[modalities.wsi]",
            'kind = "bags"', 'dir = "wsi_h5"']
    if slides_csv:
        pd.DataFrame(rows, columns=["slide", "patient_id"]).to_csv(root / "slides.csv", index=False)
        toml.append('slides = "slides.csv"')
    (root / "cohort.toml").write_text("\n".join(toml) + "\n")
    return ids, per_patient


@pytest.mark.parametrize("slides_csv", [False, True])
def test_read_h5_bag_cohort_by_file_name_or_slide_table(tmp_path, slides_csv) -> None:
    from intersurv.io.cohort_dir import read_cohort_dir

    ids, per_patient = _bag_cohort_dir(tmp_path, slides_csv=slides_csv)
    c = read_cohort_dir(tmp_path)
    assert c.kinds["wsi"] == "bags" and c.bags["wsi"].width == 4
    np.testing.assert_array_equal(c.bags["wsi"].sizes(), [3, 4, 5 + 6, 6])
    for a, pid in enumerate(ids):
        np.testing.assert_array_equal(c.bags["wsi"].bag(a), per_patient[pid])
        np.testing.assert_allclose(c.modalities["wsi"][a], per_patient[pid].astype(np.float64).mean(axis=0),
                                   rtol=1e-6)
    slides = c.bags["wsi"].slide_of_patch(2)
    assert len(set(slides)) == 2 and len(slides) == 11
    assert c.bags["wsi"].coords(0) is None  # coords only when every slide has them (one of patient 2's has none)


def test_bag_cohort_round_trip_and_subset(tmp_path) -> None:
    from intersurv.io.cohort_dir import read_cohort_dir, write_cohort_dir

    (tmp_path / "in").mkdir()
    _bag_cohort_dir(tmp_path / "in")
    c = read_cohort_dir(tmp_path / "in")
    write_cohort_dir(c, tmp_path / "out")
    assert (tmp_path / "out" / "wsi.bags" / "bags.json").exists()
    back = read_cohort_dir(tmp_path / "out")
    assert back.kinds == c.kinds
    np.testing.assert_array_equal(back.modalities["wsi"], c.modalities["wsi"])
    for a in range(4):
        np.testing.assert_array_equal(back.bags["wsi"].bag(a), c.bags["wsi"].bag(a))
        assert list(back.bags["wsi"].slide_of_patch(a)) == list(c.bags["wsi"].slide_of_patch(a))
    sub = back.subset([2, 0])
    np.testing.assert_array_equal(sub.bags["wsi"].bag(0), c.bags["wsi"].bag(2))
    np.testing.assert_array_equal(sub.modalities["wsi"], c.modalities["wsi"][[2, 0]])


def _break(root, what):
    import h5py

    h5 = root / "wsi_h5"
    if what == "missing":
        (h5 / "TCGA-AB-0001-01Z-00-DX1.h5").unlink()
    elif what == "empty":
        _write_h5(h5 / "TCGA-AB-0001-01Z-00-DX1.h5", np.zeros((0, 4), np.float32))
    elif what == "width":
        _write_h5(h5 / "TCGA-AB-0001-01Z-00-DX1.h5", np.ones((3, 5), np.float32))
    elif what == "corrupt":
        (h5 / "TCGA-AB-0001-01Z-00-DX1.h5").write_bytes(b"not an hdf5 file")
    elif what == "nan":
        x = np.ones((3, 4), np.float32)
        x[1, 2] = np.nan
        _write_h5(h5 / "TCGA-AB-0001-01Z-00-DX1.h5", x)
    elif what == "no-features":
        with h5py.File(h5 / "TCGA-AB-0001-01Z-00-DX1.h5", "w") as fh:
            fh.create_dataset("coords", data=np.zeros((3, 2)))


@pytest.mark.parametrize("what, message", [
    ("missing", r"wsi_h5: patient 'TCGA-AB-0001' from clinical.csv has no bag"),
    ("empty", r"TCGA-AB-0001-01Z-00-DX1.h5: empty bag, no patches \(patient 'TCGA-AB-0001'\)"),
    ("width", r"TCGA-AB-0001-01Z-00-DX1.h5: 5 features per patch \(patient 'TCGA-AB-0001'\), but "
              r"TCGA-AB-0000-01Z-00-DX1.h5 has 4"),
    ("corrupt", r"TCGA-AB-0001-01Z-00-DX1.h5: cannot read HDF5 file .*\(patient 'TCGA-AB-0001'\)"),
    ("nan", r"TCGA-AB-0001-01Z-00-DX1.h5: 1 NaN/inf feature value\(s\), first in patch 1 \(patient 'TCGA-AB-0001'\)"),
    ("no-features", r"TCGA-AB-0001-01Z-00-DX1.h5: no 'features' dataset \(has coords\) \(patient 'TCGA-AB-0001'\)"),
])
def test_bad_bags_are_one_line_errors_naming_slide_and_patient(tmp_path, what, message) -> None:
    from intersurv.io.cohort_dir import read_cohort_dir

    _bag_cohort_dir(tmp_path)
    _break(tmp_path, what)
    with pytest.raises(CohortError, match=message) as info:
        read_cohort_dir(tmp_path)
    assert "\n" not in str(info.value)


def test_patient_without_bag_is_dropped_or_kept_as_missing(tmp_path) -> None:
    from intersurv.io.cohort_dir import read_cohort_dir

    _bag_cohort_dir(tmp_path)
    _break(tmp_path, "missing")
    assert read_cohort_dir(tmp_path, drop_incomplete=True).ids.tolist() == ["TCGA-AB-0000", "TCGA-AB-0002",
                                                                             "TCGA-AB-0003"]
    kept = read_cohort_dir(tmp_path, allow_missing=True)
    assert kept.missing["wsi"].tolist() == [False, True, False, False]
    assert kept.bags["wsi"].sizes()[1] == 0


# ---------------------------------------------------------------- the glioma-bags simulator
TINY = {"wsi_dim": 8, "min_patches": 40, "max_patches": 80, "rna_genes": 30}


def test_glioma_bags_shapes_informative_fraction_and_truth(tmp_path) -> None:
    from intersurv.datasets.simulate import simulate

    c = simulate("glioma-bags", n=48, seed=3, bag_dir=tmp_path / "b", informative_fraction=0.1, **TINY)
    b = c.bags["wsi"]
    assert c.kinds == {"wsi": "bags", "rna": "rna"} and list(c.modalities) == ["wsi", "rna"]
    assert len(b) == 48 and b.width == 8 and c.modalities["rna"].shape == (48, 30)
    sizes = b.sizes()
    assert sizes.min() >= 40 and sizes.max() <= 80
    flags = [b.informative(a) for a in range(48)]
    assert all(f.sum() >= 1 and len(f) == n for f, n in zip(flags, sizes))
    assert abs(sum(f.sum() for f in flags) / sizes.sum() - 0.1) < 0.02  # binomial: sd ~0.005
    assert b.coords(0).shape == (sizes[0], 2) and str(b.slide_of_patch(0)[0]).startswith("SIM-0001-DX")
    np.testing.assert_allclose(c.modalities["wsi"], np.stack([b.bag(a).mean(axis=0, dtype=np.float64) for a in range(48)]),
                               rtol=1e-6, atol=1e-7)
    t = c.truth
    assert "log_risk" not in t and t["unit_truth_skipped"]  # the audit must not explain it over pooled features
    assert t["latent"]["ids"] == c.ids.tolist() and len(t["latent"]["log_risk"]) == 48
    assert 0.05 < t["interaction"]["mean"]["intershap"]["abs"] < 0.5
    # informative patches are shifted by the own factor along one direction: their mean tracks it
    u = np.array(t["latent"]["wsi_own"])
    inf_mean = np.stack([b.bag(a)[flags[a]].mean(axis=0) for a in range(48)])
    bg_mean = np.stack([b.bag(a)[~flags[a]].mean(axis=0) for a in range(48)])
    direction = np.linalg.lstsq(np.column_stack([u, np.ones(48)]), inf_mean - bg_mean, rcond=None)[0][0]
    assert np.linalg.norm(direction) > 1.0  # shift 2 per unit of u (noise sd 1 per feature)


def test_glioma_bags_are_deterministic_by_seed_and_reuse_the_cache(tmp_path, monkeypatch) -> None:
    from intersurv.datasets.simulate import simulate

    monkeypatch.setenv("INTERSURV_CACHE", str(tmp_path / "cache"))
    a = simulate("glioma-bags", n=12, seed=5, **TINY)
    where = a.bags["wsi"].describe()
    assert where.startswith(str(tmp_path / "cache" / "bags"))
    mtime = (tmp_path / "cache" / "bags" / where.rsplit("/", 1)[1] / "features.npy").stat().st_mtime_ns
    b = simulate("glioma-bags", n=12, seed=5, **TINY)  # reused, not redrawn
    assert b.bags["wsi"].describe() == where
    assert (tmp_path / "cache" / "bags" / where.rsplit("/", 1)[1] / "features.npy").stat().st_mtime_ns == mtime
    other = simulate("glioma-bags", n=12, seed=5, bag_dir=tmp_path / "fresh", **TINY)  # drawn again, same numbers
    for k in range(12):
        np.testing.assert_array_equal(other.bags["wsi"].bag(k), a.bags["wsi"].bag(k))
    np.testing.assert_array_equal(other.time, a.time)
    c = simulate("glioma-bags", n=12, seed=6, **TINY)
    assert c.bags["wsi"].describe() != where and not np.array_equal(c.modalities["wsi"], a.modalities["wsi"])


def test_glioma_bags_cohort_directory_round_trip(tmp_path) -> None:
    from intersurv.datasets.simulate import simulate
    from intersurv.io.cohort_dir import read_cohort_dir, write_cohort_dir

    c = simulate("glioma-bags", n=16, seed=0, bag_dir=tmp_path / "b", **TINY)
    write_cohort_dir(c, tmp_path / "cohort")
    back = read_cohort_dir(tmp_path / "cohort")
    assert back.kinds == c.kinds and back.truth["unit_truth_skipped"] == c.truth["unit_truth_skipped"]
    np.testing.assert_array_equal(back.modalities["wsi"], c.modalities["wsi"])
    for a in (0, 15):
        np.testing.assert_array_equal(back.bags["wsi"].bag(a), c.bags["wsi"].bag(a))
        np.testing.assert_array_equal(back.bags["wsi"].informative(a), c.bags["wsi"].informative(a))
        np.testing.assert_array_equal(back.bags["wsi"].coords(a), c.bags["wsi"].coords(a))


def test_datasets_check_summarises_bags(tmp_path, capsys) -> None:
    from intersurv.cli import main

    _bag_cohort_dir(tmp_path)
    assert main(["datasets", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bags of 4 patient(s): patches per patient min 3, median 5, max 11 (24 in all, width 4, 5 slides)" in out


def test_h5_store_reads_both_layouts_and_coords_of_every_slide(tmp_path) -> None:
    from intersurv.h5bags import open_h5_bags

    rng = np.random.default_rng(4)
    x1, x2, x3 = (rng.normal(size=(k, 3)).astype(np.float32) for k in (2, 5, 4))
    c1, c2, c3 = (np.arange(2 * k).reshape(-1, 2) + 100 * j for j, k in enumerate((2, 5, 4)))
    _write_h5(tmp_path / "a1.h5", x1, c1)
    _write_h5(tmp_path / "a2.h5", x2, c2, batched=True)  # (1, n, d)
    _write_h5(tmp_path / "b1.h5", x3, c3)
    bs = open_h5_bags([[tmp_path / "a1.h5", tmp_path / "a2.h5"], [tmp_path / "b1.h5"], []],
                      ["A", "B", "C"], str(tmp_path))
    np.testing.assert_array_equal(bs.sizes(), [7, 4, 0])
    np.testing.assert_array_equal(bs.bag(0), np.concatenate([x1, x2]))
    np.testing.assert_array_equal(bs.coords(0), np.concatenate([c1, c2]))
    assert bs.slide_of_patch(0).tolist() == ["a1"] * 2 + ["a2"] * 5
    assert bs.bag(2).shape == (0, 3) and np.isnan(bs.pooled()[2]).all()
    np.testing.assert_allclose(bs.pooled()[:2], [np.concatenate([x1, x2]).mean(axis=0), x3.mean(axis=0)], rtol=1e-6)


def test_fingerprint_tells_bag_cohorts_with_equal_means_apart() -> None:
    from intersurv.training.fingerprint import cohort_fingerprint

    bags = _bags(7)
    doubled = [np.concatenate([x, x]) for x in bags]  # same means, twice the patches
    one, two = _cohort(BagSet.from_arrays(bags)), _cohort(BagSet.from_arrays(doubled))
    np.testing.assert_array_equal(one.modalities["wsi"], two.modalities["wsi"])
    assert cohort_fingerprint(one) != cohort_fingerprint(two)
    assert cohort_fingerprint(one) == cohort_fingerprint(_cohort(BagSet.from_arrays(bags)))


def test_run_directory_stores_an_in_memory_bag_cohort(tmp_path) -> None:
    from intersurv.datasets.simulate import simulate
    from intersurv.training.experiment import run_experiment
    from intersurv.training.rundir import ExperimentConfig, ProtocolConfig, RunDir

    c = simulate("glioma-bags", n=40, seed=0, bag_dir=tmp_path / "b", **TINY)
    config = ExperimentConfig(cohort="", architectures=("late",), seeds=(0,),
                              protocol=ProtocolConfig(kind="cv", folds=2), train={"max_epochs": 2, "patience": 1})
    run_experiment(config, tmp_path / "run", cohort=c)
    stored = RunDir(tmp_path / "run").load_cohort()
    assert stored.kinds["wsi"] == "bags" and stored.bags["wsi"].describe() == str(tmp_path / "run" / "cohort" / "wsi.bags")
    np.testing.assert_array_equal(stored.modalities["wsi"], c.modalities["wsi"])
    np.testing.assert_array_equal(stored.bags["wsi"].bag(39), c.bags["wsi"].bag(39))
