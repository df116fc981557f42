"""Whole-slide images: tissue tiling, patch features in .h5 bags, pooling into the wsi modality.

The slide is a real IHC image (scikit-image's ``immunohistochemistry``) on a
white background, written as a tiled pyramidal TIFF that OpenSlide reads.
Expected features are computed by running the encoder on crops taken straight
from the numpy pyramid, not through intersurv's reader.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("openslide")
tifffile = pytest.importorskip("tifffile")
skdata = pytest.importorskip("skimage.data")

import intersurv  # noqa: E402
from intersurv.cli import main  # noqa: E402
from intersurv.errors import IntersurvError  # noqa: E402
from intersurv.wsi import build_encoder, pool_bags  # noqa: E402
from intersurv.wsi.backbones import ResNet50Features  # noqa: E402
from intersurv.wsi.tissue import subsample, tissue_tiles  # noqa: E402

MPP = 0.25          # level-0 µm/px of the test slide (a "40x" scan)
TISSUE = (256, 768)  # the IHC image occupies [256, 768) x [256, 768) of level 0
PATCH = 64          # px at 0.5 µm/px -> 128 level-0 px, read at pyramid level 1 without resizing


def slide_pyramid() -> list[np.ndarray]:
    canvas = np.full((1024, 1024, 3), 255, dtype=np.uint8)
    canvas[TISSUE[0]:TISSUE[1], TISSUE[0]:TISSUE[1]] = skdata.immunohistochemistry()
    return [canvas, canvas[::2, ::2].copy(), canvas[::4, ::4].copy()]


def write_slide(path: Path, levels: list[np.ndarray], unit: str | None = "CENTIMETER") -> Path:
    """A tiled, zlib-compressed pyramidal TIFF; resolution in px per cm (or none)."""
    with tifffile.TiffWriter(path) as tw:
        for i, level in enumerate(levels):
            kw = {}
            if unit is not None:
                r = 1e4 / (MPP * 2**i)
                kw = {"resolution": (r, r), "resolutionunit": unit}
            tw.write(level, tile=(128, 128), photometric="rgb", compression="zlib",
                     subfiletype=1 if i else 0, **kw)
    return path


@pytest.fixture(scope="module")
def pyramid() -> list[np.ndarray]:
    return slide_pyramid()


@pytest.fixture(scope="module")
def slides(tmp_path_factory, pyramid) -> Path:
    root = tmp_path_factory.mktemp("slides")
    write_slide(root / "TCGA-AA-0001-01Z-00-DX1.tif", pyramid)
    (root / "TCGA-AA-0002-01Z-00-DX1.svs").write_bytes(b"this is not a slide" * 64)
    return root


def run_extract(slides: Path, out: Path, *extra: str) -> int:
    return main(["-q", "wsi", "extract", str(slides), "--out", str(out), "--random-weights",
                 "--patch-size", str(PATCH), *extra])


def test_extract_writes_bag_and_survives_corrupt_slide(slides: Path, pyramid, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bags"
    assert run_extract(slides, out) == 1  # one slide failed
    captured = capsys.readouterr()
    assert "extracted 1 slide(s)" in captured.out and "failed 1" in captured.out
    assert "TCGA-AA-0002-01Z-00-DX1.svs" in captured.out

    bag = out / "TCGA-AA-0001-01Z-00-DX1.h5"
    assert sorted(p.name for p in out.iterdir()) == [bag.name, "extract_summary.json"]
    with h5py.File(bag, "r") as fh:
        assert set(fh.keys()) == {"features", "coords"}
        feats, coords = fh["features"][()], fh["coords"][()]
        attrs, fattrs = dict(fh["coords"].attrs), dict(fh["features"].attrs)
    assert feats.dtype == np.float32 and coords.dtype == np.int64
    assert feats.shape == (len(coords), 2048) and coords.shape[1] == 2
    assert attrs["patch_size"] == PATCH and attrs["patch_size_level0"] == 2 * PATCH
    assert attrs["patch_level"] == 1 and attrs["mpp"] == 0.5 and attrs["level0_mpp"] == pytest.approx(MPP)
    assert attrs["level0_magnification"] == 40 and attrs["target_magnification"] == 20
    assert fattrs["encoder"] == "resnet50" and fattrs["encoder_weights"] == "random (seed 0)"

    # Coordinates are level-0 corners on the grid, every patch lies on the tissue, none on glass,
    # and most of the 4 x 4 grid squares over the tissue are found.
    size0 = 2 * PATCH
    assert (coords % size0 == 0).all()
    assert (coords >= TISSUE[0]).all() and (coords + size0 <= TISSUE[1]).all()
    assert len(coords) >= 10
    level0 = pyramid[0]
    for x, y in coords:
        assert level0[y:y + size0, x:x + size0].mean() < 240

    # Features are the encoder applied to the level-1 pixels under each patch.
    enc = build_encoder(random_weights=True, seed=0)
    crops = np.stack([pyramid[1][y // 2:y // 2 + PATCH, x // 2:x // 2 + PATCH] for x, y in coords])
    ref = enc(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-4)

    summary = json.loads((out / "extract_summary.json").read_text())
    assert summary["done"] == {"TCGA-AA-0001-01Z-00-DX1": len(coords)}
    assert list(summary["failed"]) == [str(slides / "TCGA-AA-0002-01Z-00-DX1.svs")]

    # Second run: the finished slide is skipped (file untouched), the corrupt one reported again.
    stamp = bag.stat().st_mtime_ns
    assert run_extract(slides, out) == 1
    assert "skipped 1 already done" in capsys.readouterr().out
    assert bag.stat().st_mtime_ns == stamp
    assert json.loads((out / "extract_summary.json").read_text())["skipped"] == ["TCGA-AA-0001-01Z-00-DX1"]


def test_unknown_resolution_needs_mpp(pyramid, tmp_path: Path, capsys) -> None:
    slide = write_slide(tmp_path / "nores.tif", [level[::4, ::4].copy() for level in pyramid[:2]], unit=None)
    out = tmp_path / "bags"
    assert main(["-q", "wsi", "extract", str(slide), "--out", str(out), "--random-weights",
                 "--patch-size", "32", "--max-patches", "2"]) == 1
    assert "--mpp" in capsys.readouterr().out and not (out / "nores.h5").exists()
    assert main(["-q", "wsi", "extract", str(slide), "--out", str(out), "--random-weights",
                 "--patch-size", "32", "--max-patches", "2", "--mpp", "1.0"]) == 0
    with h5py.File(out / "nores.h5", "r") as fh:
        assert fh["features"].shape == (2, 2048)
        assert fh["coords"].attrs["level0_mpp"] == 1.0 and fh["coords"].attrs["patch_size_level0"] == 16


def test_level0_mpp_from_properties() -> None:
    from intersurv.wsi.slide import SlideError, level0_mpp

    assert level0_mpp({"openslide.mpp-x": "0.25", "openslide.mpp-y": "0.27"}, "s") == pytest.approx(0.26)
    # TIFF resolution tags, as some vendors leave them without openslide.mpp-x
    assert level0_mpp({"tiff.XResolution": "40000", "tiff.ResolutionUnit": "centimeter"}, "s") == pytest.approx(0.25)
    assert level0_mpp({"tiff.XResolution": "50800", "tiff.ResolutionUnit": "INCH"}, "s") == pytest.approx(0.5)
    assert level0_mpp({"tiff.XResolution": "72", "tiff.ResolutionUnit": "none"}, "s", fallback=0.5) == 0.5
    with pytest.raises(SlideError, match="s: the slide does not state its resolution.*--mpp"):
        level0_mpp({"openslide.mpp-x": "0", "tiff.XResolution": "72"}, "s")


def test_weights_required_unless_random(slides: Path, tmp_path: Path, capsys) -> None:
    code = main(["wsi", "extract", str(slides), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "--weights" in err and "--random-weights" in err


def test_named_backbone_needs_its_package(monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "torchvision", None)  # import fails
    with pytest.raises(IntersurvError, match="needs torchvision"):
        build_encoder("torchvision:resnet18", random_weights=True)
    with pytest.raises(IntersurvError, match="unknown backbone"):
        build_encoder("vgg", random_weights=True)


def test_torchvision_model_by_name_loses_its_classifier(monkeypatch, tmp_path: Path) -> None:
    """A stand-in torchvision (not installed here): the head is removed and its weights ignored."""
    import sys
    import types

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.AdaptiveAvgPool2d(1))
            self.fc = torch.nn.Linear(5, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.features(x).flatten(1))

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(get_model=lambda name, weights: Tiny())
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    source = Tiny()
    torch.save(source.state_dict(), tmp_path / "tiny.pth")
    enc = build_encoder("torchvision:tiny", tmp_path / "tiny.pth")
    assert enc.dim == 5 and enc.name == "torchvision:tiny"
    x = torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(enc(x), source.features((x - mean) / std).flatten(1))


def torchvision_resnet50_keys() -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of torchvision's resnet50 (without fc), written out from its definition."""
    keys: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{k}"] = (c,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    keys["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    in_ch = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            keys[f"{p}.conv1.weight"] = (width, in_ch, 1, 1)
            bn(f"{p}.bn1", width)
            keys[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            keys[f"{p}.conv3.weight"] = (4 * width, width, 1, 1)
            bn(f"{p}.bn3", 4 * width)
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (4 * width, in_ch, 1, 1)
                bn(f"{p}.downsample.1", 4 * width)
            in_ch = 4 * width
    return keys


def test_resnet50_matches_torchvision_layout() -> None:
    model = ResNet50Features()
    state = model.state_dict()
    expected = torchvision_resnet50_keys()
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    # torchvision's resnet50 has 25,557,032 parameters, 2048 * 1000 + 1000 of them in fc.
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - 2_049_000
    # V1.5: a down-sampling bottleneck strides on its 3x3 convolution.
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2048)


def test_weights_load_from_safetensors_and_torch_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = ResNet50Features()
    torch.nn.init.normal_(source.bn1.running_mean)  # something random init would not reproduce
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pth")
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ref = source.eval()((x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                            / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    for name in ("w.safetensors", "w.pth"):
        enc = build_encoder(weights=tmp_path / name)
        torch.testing.assert_close(enc(x), ref)
        assert enc.weights.startswith(name) and "sha256" in enc.weights
    bad = {"conv1.weight": state["conv1.weight"], "head.weight": torch.zeros(2)}
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(IntersurvError, match=r"317 missing \(e.g. 'bn1.weight'\), 1 unexpected \(e.g. 'head.w"):
        build_encoder(weights=tmp_path / "bad.safetensors")
    save_file({**state, "conv1.weight": torch.zeros(64, 3, 3, 3)}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(IntersurvError, match="'conv1.weight' has shape"):
        build_encoder(weights=tmp_path / "shape.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(IntersurvError, match="cannot read weights"):
        build_encoder(weights=tmp_path / "junk.pt")


def test_tissue_tiles_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) < 0.4
    scale, size0, dims = 0.25, 12, (212, 148)  # level-0 is 4x the mask
    got = tissue_tiles(mask, scale, dims, size0, 0.5)
    want = []
    for y in range(0, dims[1] - size0 + 1, size0):
        for x in range(0, dims[0] - size0 + 1, size0):
            y0, x0 = int(np.floor(y * scale)), int(np.floor(x * scale))
            y1, x1 = int(np.ceil((y + size0) * scale)), int(np.ceil((x + size0) * scale))
            if mask[y0:y1, x0:x1].mean() >= 0.5:
                want.append((x, y))
    assert got.tolist() == [list(w) for w in want]
    sub = subsample(got, 3, seed=1)
    assert len(sub) == 3 and set(map(tuple, sub)) <= set(map(tuple, got))
    assert sub.tolist() == sorted(sub.tolist(), key=lambda c: (c[1], c[0]))  # grid order kept
    np.testing.assert_array_equal(subsample(got, 3, seed=1), sub)


# ----------------------------------------------------------------------------- pooling

def write_h5(path: Path, feats: np.ndarray) -> None:
    """A bag as TRIDENT writes it (features + coords with attributes)."""
    with h5py.File(path, "w") as fh:
        fh.create_dataset("features", data=feats.astype(np.float32))
        c = fh.create_dataset("coords", data=np.zeros((len(feats), 2), dtype=np.int64))
        c.attrs["patch_size"] = 256
        c.attrs["patch_size_level0"] = 512


def write_clinical(path: Path, ids: list[str]) -> Path:
    n = len(ids)
    pd.DataFrame({"patient_id": ids, "time": np.linspace(5, 60, n), "event": [1, 0] * (n // 2) + [1] * (n % 2),
                  "age": np.arange(n) + 40}).to_csv(path, index=False)
    return path


@pytest.fixture
def bag_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    bags = tmp_path / "bags"
    bags.mkdir()
    raw = {
        "TCGA-AA-0001-01Z-00-DX1.abc": rng.normal(size=(5, 6)),
        "TCGA-AA-0001-01Z-00-DX2.def": rng.normal(size=(2, 6)),  # second slide of patient 1
        "TCGA-AA-0002-01Z-00-DX1.ghi": rng.normal(size=(3, 6)),
        "TCGA-AA-0003-01Z-00-DX1.jkl": rng.normal(size=(4, 6)),
    }
    for name, x in raw.items():
        if name.endswith("ghi"):
            torch.save(torch.from_numpy(x.astype(np.float32)), bags / f"{name}.pt")  # TRIDENT --saveas pt
        else:
            write_h5(bags / f"{name}.h5", x)
    return bags, raw


def test_pool_patch_weighted_mean(bag_dir, tmp_path: Path) -> None:
    bags, raw = bag_dir
    clinical = write_clinical(tmp_path / "clinical.csv", ["TCGA-AA-0003", "TCGA-AA-0001", "TCGA-AA-0002"])
    ids, x = pool_bags(bags, clinical)
    assert ids == ["TCGA-AA-0003", "TCGA-AA-0001", "TCGA-AA-0002"]  # clinical order
    p1 = np.concatenate([raw["TCGA-AA-0001-01Z-00-DX1.abc"], raw["TCGA-AA-0001-01Z-00-DX2.def"]]).mean(axis=0)
    np.testing.assert_allclose(x[1], p1, rtol=1e-5)
    assert not np.allclose(x[1], (raw["TCGA-AA-0001-01Z-00-DX1.abc"].mean(0)
                                  + raw["TCGA-AA-0001-01Z-00-DX2.def"].mean(0)) / 2)  # not slide-weighted
    np.testing.assert_allclose(x[2], raw["TCGA-AA-0002-01Z-00-DX1.ghi"].mean(axis=0), rtol=1e-5)


def test_pool_slide_without_patient_and_patient_without_slide(bag_dir, tmp_path: Path, capsys) -> None:
    bags, _ = bag_dir
    clinical = write_clinical(tmp_path / "clinical.csv", ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0009"])
    args = ["wsi", "pool", str(bags), "--clinical", str(clinical), "--out", str(tmp_path / "c")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TCGA-AA-0003-01Z-00-DX1.jkl" in err
    assert main(args + ["--drop-unmatched"]) == 0
    err = capsys.readouterr().err
    assert "dropped 1 slide(s)" in err and "TCGA-AA-0003-01Z-00-DX1.jkl" in err
    assert "TCGA-AA-0009" in err and "no slide" in err
    assert pd.read_parquet(tmp_path / "c" / "wsi.parquet")["patient_id"].tolist() == ["TCGA-AA-0001", "TCGA-AA-0002"]


def test_pool_with_mapping_file(bag_dir, tmp_path: Path) -> None:
    bags, raw = bag_dir
    clinical = write_clinical(tmp_path / "clinical.csv", ["A", "B"])
    mapping = tmp_path / "map.csv"
    stems = sorted(raw)
    pd.DataFrame({"slide": stems, "patient_id": ["A", "A", "B", "B"]}).to_csv(mapping, index=False)
    ids, x = pool_bags(bags, clinical, mapping)
    assert ids == ["A", "B"]
    np.testing.assert_allclose(x[1], np.concatenate([raw[stems[2]], raw[stems[3]]]).mean(0), rtol=1e-5)
    pd.DataFrame({"slide": stems[:3], "patient_id": ["A", "A", "B"]}).to_csv(mapping, index=False)
    with pytest.raises(IntersurvError, match=f"slide '{stems[3]}' is not in"):
        pool_bags(bags, clinical, mapping)


def test_pool_refuses_mismatched_widths(bag_dir, tmp_path: Path) -> None:
    bags, _ = bag_dir
    write_h5(bags / "TCGA-AA-0002-01Z-00-DX9.h5", np.ones((2, 5)))
    with pytest.raises(IntersurvError, match="5 features per patch"):
        pool_bags(bags, write_clinical(tmp_path / "clinical.csv", ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"]))


def test_extracted_pooled_and_rna_load_as_one_cohort(slides: Path, tmp_path: Path, capsys) -> None:
    """wsi extract -> wsi pool, plus rnaseq prepare, plus clinical.csv: one cohort that loads and checks."""
    bags = tmp_path / "bags"
    rng = np.random.default_rng(2)
    ids = [f"TCGA-AA-{i:04d}" for i in range(1, 25)]  # enough patients for a train/validation split
    assert run_extract(slides, bags, "--max-patches", "3") == 1  # the corrupt slide fails, as above
    for pid in ids[1:]:  # further patients' bags, as TRIDENT would have written them
        write_h5(bags / f"{pid}-01Z-00-DX1.h5", rng.normal(size=(4, 2048)))
    os.remove(bags / "extract_summary.json")
    clinical = write_clinical(tmp_path / "clinical.csv", ids)
    expr = pd.DataFrame(rng.gamma(2.0, 3.0, size=(len(ids), 20)), columns=[f"g{j}" for j in range(20)])
    expr.insert(0, "sample", [f"{p}-01A-11R-A00Z-07" for p in ids])
    expr.to_csv(tmp_path / "expr.csv", index=False)
    cohort = tmp_path / "cohort"
    assert main(["wsi", "pool", str(bags), "--clinical", str(clinical), "--out", str(cohort)]) == 0
    assert main(["rnaseq", "prepare", str(tmp_path / "expr.csv"), "--clinical", str(clinical),
                 "--out", str(cohort)]) == 0
    c = intersurv.load_cohort(cohort)
    assert list(c.ids) == ids and c.modality_names == ["rna", "wsi"]
    assert c.modalities["wsi"].shape == (24, 2048) and c.modalities["rna"].shape == (24, 20)
    with h5py.File(bags / "TCGA-AA-0001-01Z-00-DX1.h5", "r") as fh:
        np.testing.assert_allclose(c.modalities["wsi"][0], fh["features"][()].mean(0), rtol=1e-5)
    capsys.readouterr()
    assert main(["datasets", "check", str(cohort)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    model = intersurv.fit(c, arch="late", max_epochs=2)
    assert np.isfinite(model(c.X)).all()
    run = tmp_path / "run"
    assert main(["audit", "--cohort", str(cohort), "--out", str(run), "--arch", "late,early", "--seeds", "1",
                 "--folds", "2", "--max-epochs", "2"]) == 0
    assert (run / "results.json").is_file() and (run / "report.html").is_file()


def test_patch_geometry_picks_coarsest_level_not_coarser_than_target() -> None:
    from types import SimpleNamespace

    from intersurv.wsi.slide import patch_geometry

    scanner = SimpleNamespace(level_downsamples=(1.0, 4.0003, 16.0012))
    g = patch_geometry(scanner, 0.125, 224, 0.5)  # 80x scan, 4x down to 20x: level 1 despite 4.0003 > 4
    assert (g.size_level0, g.level, g.read_size) == (896, 1, 224)
    g = patch_geometry(scanner, 0.25, 224, 0.5)  # 40x scan: level 0, 448 px resized to 224
    assert (g.size_level0, g.level, g.read_size) == (448, 0, 448)
    g = patch_geometry(scanner, 1.0, 224, 0.5)  # 10x scan, upsampling: level 0, 112 px
    assert (g.size_level0, g.level, g.read_size) == (112, 0, 112)


def test_report_thumbnails_are_cut_from_the_slide_files(slides: Path, pyramid, tmp_path: Path) -> None:
    """A listed patch's thumbnail is its level-0 square read from the slide (here at pyramid level 2, exactly);
    a corrupt slide and a slide without a file give none and a line each; every text is escaped."""
    import io

    from PIL import Image

    from intersurv.report.html import _attention
    from intersurv.report.thumbnails import patch_thumbnails

    good = {"patch": 0, "x": 256, "y": 384, "weight": 0.5, "slide": "TCGA-AA-0001-01Z-00-DX1"}
    patches = [good, {"patch": 1, "x": 0, "y": 0, "weight": 0.2, "slide": "TCGA-AA-0002-01Z-00-DX1"},
               {"patch": 2, "x": 0, "y": 0, "weight": 0.1, "slide": "<b>gone</b>"}]
    results = {"architectures": {"late": {"attention": {"wsi": {
        "highest": {"patient_id": "p1", "unit": "late_s0", "log_risk": 1.0, "patches": patches},
        "lowest": {"patient_id": "p2", "unit": "late_s0", "log_risk": -1.0, "patches": [good]}}}}}}
    thumbs, problems = patch_thumbnails(results, slides, patch_size=128, px=32)
    assert set(thumbs) == {("TCGA-AA-0001-01Z-00-DX1", 256.0, 384.0)}
    image = np.asarray(Image.open(io.BytesIO(thumbs[("TCGA-AA-0001-01Z-00-DX1", 256.0, 384.0)])).convert("RGB"))
    np.testing.assert_array_equal(image, pyramid[2][384 // 4:512 // 4, 256 // 4:384 // 4])
    assert len(problems) == 2 and "TCGA-AA-0002-01Z-00-DX1.svs" in problems[0] and "<b>gone</b>" in problems[1]
    html = _attention(results, thumbs, problems)
    assert html.count("data:image/png;base64,") == 2  # the patch is listed for both patients
    assert "<b>gone</b>" not in html and "&lt;b&gt;gone&lt;/b&gt;" in html
    with pytest.raises(IntersurvError, match="not a directory"):
        patch_thumbnails(results, tmp_path / "nowhere")
