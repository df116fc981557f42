"""Opening whole-slide images with OpenSlide, their resolution, and reading patches.

Coordinates are level-0 pixels, (x, y) of the top-left corner. Resolution is
in microns per pixel (µm/px) at level 0: 0.25 is a 40x scan, 0.5 a 20x scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IntersurvError

# File types OpenSlide reads; a directory given to `wsi extract` is scanned for these.
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif")

LEVEL_TOLERANCE = 0.01
_UNIT_MICRONS = {"centimeter": 1e4, "inch": 25400.0}


class SlideError(IntersurvError):
    """One slide cannot be used (unreadable, corrupt, no resolution, no tissue); the others can."""


def require_wsi_extra() -> None:
    """OpenSlide and scikit-image are importable, or an IntersurvError says how to install them."""
    try:
        import openslide  # noqa: F401
        import skimage  # noqa: F401
    except ImportError as exc:
        raise IntersurvError(f"reading slides needs the [wsi] extra ({exc}): pip install 'intersurv[wsi]'") from None


def open_slide(path: str | Path) -> Any:
    """``openslide.OpenSlide(path)``; an unreadable or unsupported file is a :class:`SlideError`."""
    import openslide

    try:
        return openslide.OpenSlide(str(path))
    except (openslide.OpenSlideError, OSError) as exc:
        raise SlideError(f"{path}: OpenSlide cannot read it ({exc or type(exc).__name__})") from None


def level0_mpp(properties: Any, path: str | Path, fallback: float | None = None) -> float:
    """Level-0 resolution in µm/px from the slide's properties.

    Uses ``openslide.mpp-x`` and ``openslide.mpp-y`` (their mean if they
    differ), else ``tiff.XResolution``/``tiff.YResolution`` with
    ``tiff.ResolutionUnit`` (centimeter or inch), else ``fallback`` (``--mpp``).
    Without any, the slide is a :class:`SlideError`.
    """
    def positive(key: str) -> float | None:
        try:
            v = float(properties[key])
        except (KeyError, ValueError):
            return None
        return v if math.isfinite(v) and v > 0 else None

    mx, my = positive("openslide.mpp-x"), positive("openslide.mpp-y")
    if mx is not None:
        return (mx + (my if my is not None else mx)) / 2
    unit = _UNIT_MICRONS.get(str(properties.get("tiff.ResolutionUnit", "")).lower())
    rx, ry = positive("tiff.XResolution"), positive("tiff.YResolution")
    if unit is not None and rx is not None:
        return (unit / rx + unit / (ry if ry is not None else rx)) / 2
    if fallback is not None:
        return float(fallback)
    raise SlideError(f"{path}: the slide does not state its resolution (no openslide.mpp-x nor "
                     "tiff.XResolution with a unit); give --mpp with its level-0 microns per pixel")


@dataclass(frozen=True)
class PatchGeometry:
    """Where and how patches are read from one slide.

    A patch is ``patch_size`` px at ``target_mpp`` µm/px, i.e. a level-0 square
    of ``size_level0 = round(patch_size * target_mpp / mpp)`` px. It is read at
    pyramid ``level`` (the coarsest level not coarser than the target, with 1 %
    tolerance) as a ``read_size`` px square and resized to ``patch_size``.
    """

    patch_size: int
    target_mpp: float
    mpp: float
    size_level0: int
    level: int
    read_size: int


def patch_geometry(slide: Any, mpp: float, patch_size: int, target_mpp: float) -> PatchGeometry:
    """The :class:`PatchGeometry` of ``slide`` at level-0 resolution ``mpp``."""
    downsample = target_mpp / mpp  # level-0 px per target px
    size0 = max(1, round(patch_size * downsample))
    # Scanners store level downsamples like 4.0003: allow 1 % so that such a level still counts.
    usable = [i for i, d in enumerate(slide.level_downsamples) if d <= downsample * (1 + LEVEL_TOLERANCE)]
    level = max(usable, key=lambda i: slide.level_downsamples[i], default=0)
    read = max(1, round(size0 / float(slide.level_downsamples[level])))
    return PatchGeometry(patch_size, target_mpp, mpp, size0, level, read)


def read_patch(slide: Any, xy: tuple[int, int], geom: PatchGeometry) -> np.ndarray:
    """The patch whose level-0 top-left corner is ``xy``: (patch_size, patch_size, 3) uint8 RGB.

    Transparent pixels (outside the scanned area) are composited onto white.
    """
    from PIL import Image

    region = slide.read_region((int(xy[0]), int(xy[1])), geom.level, (geom.read_size, geom.read_size))
    rgb = Image.new("RGB", region.size, (255, 255, 255))
    rgb.paste(region, mask=region.getchannel("A"))
    if geom.read_size != geom.patch_size:
        rgb = rgb.resize((geom.patch_size, geom.patch_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)
