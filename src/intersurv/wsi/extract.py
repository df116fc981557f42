"""Whole-slide images -> one ``.h5`` patch-feature bag per slide.

For each slide: open it with OpenSlide, find its level-0 resolution, build the
tissue mask, tile the tissue at the target resolution, keep at most
``max_patches`` tiles (a seeded random subset, in grid order), encode each
patch and write ``<out>/<slide stem>.h5`` atomically.

The run is resumable: a slide whose ``.h5`` exists is skipped. A slide that
cannot be used (unreadable, corrupt, no resolution, no tissue) is reported,
skipped and listed in the summary; the run goes on. The summary is also
written to ``<out>/extract_summary.json``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import IntersurvError
from ..io.atomic import write_json_atomic
from .backbones import Encoder
from .bags import write_h5_bag
from .slide import (SLIDE_SUFFIXES, SlideError, level0_mpp, open_slide, patch_geometry, read_patch,
                    require_wsi_extra)
from .tissue import slide_tissue_mask, subsample, tissue_tiles

log = logging.getLogger("intersurv")

SUMMARY_FILE = "extract_summary.json"


@dataclass(frozen=True)
class ExtractConfig:
    """Tiling options: ``patch_size`` px at ``target_mpp`` µm/px (224 px at 0.5 µm/px is 20x),
    ``mpp`` the level-0 resolution for slides that do not state theirs, ``min_tissue`` the
    tissue fraction a tile needs, ``max_patches`` per slide (None: all), ``seed`` for the subset."""

    patch_size: int = 224
    target_mpp: float = 0.5
    mpp: float | None = None
    min_tissue: float = 0.5
    max_patches: int | None = None
    seed: int = 0
    batch_size: int = 32


@dataclass
class ExtractSummary:
    """Outcome of a run: slide names done now, skipped (already done) and failed (with the reason)."""

    done: dict[str, int] = field(default_factory=dict)  # slide -> number of patches
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # slide path -> one-line reason

    def lines(self) -> list[str]:
        out = [f"extracted {len(self.done)} slide(s), skipped {len(self.skipped)} already done, "
               f"failed {len(self.failed)}"]
        out += [f"  failed: {reason}" for reason in self.failed.values()]
        return out


def find_slides(inputs: list[str | Path]) -> list[Path]:
    """Slide files from files and directories (a directory contributes its files with a slide suffix).

    Two slides with the same stem would write the same ``.h5``: an IntersurvError.
    """
    slides: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            slides += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in SLIDE_SUFFIXES)
        elif item.is_file():
            slides.append(item)
        else:
            raise IntersurvError(f"{item}: no such file or directory")
    seen: dict[str, Path] = {}
    for p in slides:
        if p.stem in seen:
            raise IntersurvError(f"{p}: same name as {seen[p.stem]}; both would be written to {p.stem}.h5")
        seen[p.stem] = p
    if not slides:
        raise IntersurvError(f"no slides found in {', '.join(map(str, inputs))} "
                             f"(looked for {', '.join(SLIDE_SUFFIXES)})")
    return slides


def extract_slide(path: Path, out: Path, encoder: Encoder, cfg: ExtractConfig, device: str = "cpu",
                  progress: bool = True) -> int:
    """Encode the tissue patches of one slide into ``out``; returns the number of patches.

    Raises :class:`SlideError` when this slide cannot be used.
    """
    import openslide
    import torch
    from tqdm import tqdm

    slide = open_slide(path)
    try:
        mpp = level0_mpp(slide.properties, path, cfg.mpp)
        geom = patch_geometry(slide, mpp, cfg.patch_size, cfg.target_mpp)
        mask, scale = slide_tissue_mask(slide)
        coords = tissue_tiles(mask, scale, slide.dimensions, geom.size_level0, cfg.min_tissue)
        if len(coords) == 0:
            raise SlideError(f"{path}: no tile of {geom.size_level0} level-0 px with >= {cfg.min_tissue:.0%} "
                             "tissue (blank slide, or patch size too large for it)")
        coords = subsample(coords, cfg.max_patches, cfg.seed)
        feats = np.empty((len(coords), encoder.dim), dtype=np.float32)
        bar = tqdm(total=len(coords), desc=path.name, unit="patch", leave=False, disable=None if progress else True)
        for start in range(0, len(coords), cfg.batch_size):
            batch = coords[start:start + cfg.batch_size]
            images = np.stack([read_patch(slide, (x, y), geom) for x, y in batch])
            tensor = torch.from_numpy(images).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32) / 255.0
            feats[start:start + len(batch)] = encoder(tensor).cpu().numpy()
            bar.update(len(batch))
        bar.close()
    except openslide.OpenSlideError as exc:  # a corrupt tile surfaces only when it is read
        raise SlideError(f"{path}: OpenSlide failed while reading ({exc})") from None
    finally:
        slide.close()
    coords_attrs = {
        "patch_size": cfg.patch_size,
        "patch_size_level0": geom.size_level0,
        "patch_level": geom.level,
        "level0_magnification": round(10.0 / mpp),
        "target_magnification": round(10.0 / cfg.target_mpp),
        "mpp": cfg.target_mpp,
        "level0_mpp": mpp,
        "overlap": 0,
        "name": path.stem,
    }
    features_attrs = {"name": path.stem, "encoder": encoder.name, "encoder_weights": encoder.weights}
    write_h5_bag(out / f"{path.stem}.h5", feats, coords, coords_attrs, features_attrs)
    return len(coords)


def extract_slides(inputs: list[str | Path], out: str | Path, encoder: Encoder, cfg: ExtractConfig,
                   device: str = "cpu", progress: bool = True) -> ExtractSummary:
    """Run :func:`extract_slide` over every slide in ``inputs``, resumably; see the module docstring."""
    from tqdm import tqdm

    require_wsi_extra()
    slides = find_slides(inputs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExtractSummary()
    for path in tqdm(slides, desc="slides", unit="slide", disable=None if progress else True):
        if (out / f"{path.stem}.h5").exists():
            summary.skipped.append(path.stem)
            continue
        try:
            summary.done[path.stem] = extract_slide(path, out, encoder, cfg, device, progress)
        except SlideError as exc:
            log.warning("skipped %s", exc)
            summary.failed[str(path)] = str(exc)
    write_json_atomic(out / SUMMARY_FILE, {"config": asdict(cfg), "encoder": encoder.name,
                                           "encoder_weights": encoder.weights, **asdict(summary)})
    return summary
