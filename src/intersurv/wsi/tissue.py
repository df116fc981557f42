"""Tissue mask and tiling: which level-0 squares of a slide hold tissue.

The mask is Otsu's threshold on the grey level of a thumbnail (glass is bright,
stained tissue darker), then a morphological closing (disk of radius 2
thumbnail px) and the filling of enclosed holes smaller than 1 % of the
thumbnail (pale stroma and lumens inside tissue). A grid of non-overlapping
level-0 squares of side ``size_level0`` is laid from the top-left corner; a
square is kept when at least ``min_tissue`` of its area is tissue in the mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

THUMBNAIL_MAX_SIDE = 1024
MAX_HOLE_FRACTION = 0.01


def tissue_mask(thumbnail_rgb: np.ndarray) -> np.ndarray:
    """Boolean tissue mask of an (H, W, 3) uint8 RGB image (see the module docstring).

    A uniform image (no contrast, so no threshold) has no tissue.
    """
    from scipy import ndimage
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu
    from skimage.morphology import disk

    grey = rgb2gray(thumbnail_rgb)
    if np.ptp(grey) == 0:
        return np.zeros(grey.shape, dtype=bool)
    mask = ndimage.binary_closing(grey < threshold_otsu(grey), structure=disk(2))
    holes, n = ndimage.label(~mask)
    sizes = np.bincount(holes.ravel(), minlength=n + 1)
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    fill = sizes <= MAX_HOLE_FRACTION * mask.size
    fill[0] = False
    fill[border] = False
    return mask | fill[holes]


def slide_tissue_mask(slide: Any) -> tuple[np.ndarray, float]:
    """The tissue mask of a slide's thumbnail and the thumbnail's scale (thumbnail px per level-0 px)."""
    width, height = slide.dimensions
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(width, height))
    thumb = slide.get_thumbnail((max(1, round(width * scale)), max(1, round(height * scale))))
    rgb = np.asarray(thumb.convert("RGB"), dtype=np.uint8)
    # The thumbnail may be a pixel smaller than asked; use its true scale.
    return tissue_mask(rgb), rgb.shape[1] / width


def tissue_tiles(mask: np.ndarray, scale: float, dimensions: tuple[int, int], size_level0: int,
                 min_tissue: float) -> np.ndarray:
    """Level-0 top-left corners (n, 2) int64, row-major, of grid squares with tissue fraction >= ``min_tissue``.

    The fraction of a square is the mean of the mask over the thumbnail pixels
    it covers (at least one pixel), computed with a summed-area table.
    """
    width, height = dimensions
    xs = np.arange(0, width - size_level0 + 1, size_level0, dtype=np.int64)
    ys = np.arange(0, height - size_level0 + 1, size_level0, dtype=np.int64)
    if xs.size == 0 or ys.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    sat = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)

    def bounds(starts: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        lo = np.clip(np.floor(starts * scale).astype(np.int64), 0, limit - 1)
        hi = np.clip(np.ceil((starts + size_level0) * scale).astype(np.int64), lo + 1, limit)
        return lo, hi

    x0, x1 = bounds(xs, mask.shape[1])
    y0, y1 = bounds(ys, mask.shape[0])
    Y0, X0 = np.meshgrid(y0, x0, indexing="ij")
    Y1, X1 = np.meshgrid(y1, x1, indexing="ij")
    area = (Y1 - Y0) * (X1 - X0)
    frac = (sat[Y1, X1] - sat[Y0, X1] - sat[Y1, X0] + sat[Y0, X0]) / area
    gy, gx = np.nonzero(frac >= min_tissue)
    return np.stack([xs[gx], ys[gy]], axis=1).astype(np.int64)


def subsample(coords: np.ndarray, max_patches: int | None, seed: int) -> np.ndarray:
    """At most ``max_patches`` rows of ``coords``, drawn without replacement with ``seed``, kept in grid order."""
    if max_patches is None or len(coords) <= max_patches:
        return coords
    keep = np.sort(np.random.default_rng(seed).choice(len(coords), size=max_patches, replace=False))
    return coords[keep]
