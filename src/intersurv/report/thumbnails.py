"""Thumbnails of the most-attended patches, cut from the slide files when they are at hand.

``intersurv report RUN --slides DIR`` looks in DIR for the slide of each patch the report lists
(the highest- and lowest-risk patients of every attention-MIL model): a file, among the types
OpenSlide reads, whose name without its suffix is the slide's name (as ``wsi extract`` and TRIDENT
name their ``.h5`` bags after the slide file) or starts with the slide's name and a dot (TCGA's
``<slide>.<uuid>.svs``). A patch is the level-0 square of side ``patch_size`` (level-0 pixels) whose
top-left corner is its (x, y); it is read at the pyramid level closest to the thumbnail's scale and
shrunk to at most ``px`` pixels, as PNG. A slide that is not found or cannot be read gives no
thumbnails: one line per such slide says why, and the report is built all the same.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import IntersurvError

#: Thumbnail side in pixels.
PX = 96
#: Level-0 side of a patch when the run does not say (256 px is TRIDENT's and CLAM's usual patch at 20x).
PATCH_SIZE = 256

#: (slide name, x, y): the key of a patch's thumbnail.
PatchKey = tuple[str, float, float]


def listed_patches(results: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every patch the report lists (``results["architectures"][A]["attention"][m][role]["patches"]``)."""
    for arch in (results.get("architectures") or {}).values():
        for picks in ((arch or {}).get("attention") or {}).values():
            for role in ("highest", "lowest"):
                yield from ((picks or {}).get(role) or {}).get("patches") or []


def patch_key(patch: Mapping[str, Any]) -> PatchKey | None:
    """``(slide, x, y)`` of a listed patch, or None when it has no slide name or no coordinates."""
    if not patch.get("slide") or patch.get("x") is None or patch.get("y") is None:
        return None
    return str(patch["slide"]), float(patch["x"]), float(patch["y"])


def find_slide(slides: Path, name: str) -> Path | None:
    """The slide file of slide ``name`` in directory ``slides`` (module docstring), or None."""
    from ..wsi.slide import SLIDE_SUFFIXES

    for path in sorted(slides.iterdir()):
        if path.is_file() and path.suffix.lower() in SLIDE_SUFFIXES and (
                path.stem == name or path.name.startswith(name + ".")):
            return path
    return None


def read_thumbnail(slide: Any, x: float, y: float, patch_size: int, px: int = PX) -> bytes:
    """PNG bytes of the level-0 square ``patch_size`` wide at (x, y) of an open OpenSlide ``slide``."""
    level = slide.get_best_level_for_downsample(patch_size / px)
    side = max(1, math.ceil(patch_size / slide.level_downsamples[level]))
    image = slide.read_region((int(round(x)), int(round(y))), level, (side, side)).convert("RGB")
    image.thumbnail((px, px))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def patch_thumbnails(results: Mapping[str, Any], slides: str | Path, patch_size: int = PATCH_SIZE,
                     px: int = PX) -> tuple[dict[PatchKey, bytes], list[str]]:
    """Thumbnails of every listed patch with a slide name and coordinates, keyed ``(slide, x, y)``,
    and one line per slide that gave none (not found in ``slides``, or unreadable)."""
    from ..wsi.slide import SlideError, open_slide, require_wsi_extra

    require_wsi_extra()
    import openslide

    slides = Path(slides)
    if not slides.is_dir():
        raise IntersurvError(f"--slides {slides}: not a directory")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise IntersurvError(f"the patch size must be a positive number of level-0 pixels (got {patch_size!r})")
    wanted: dict[str, set[tuple[float, float]]] = {}
    for key in filter(None, map(patch_key, listed_patches(results))):
        wanted.setdefault(key[0], set()).add(key[1:])
    thumbnails: dict[PatchKey, bytes] = {}
    problems: list[str] = []
    for name, corners in wanted.items():
        path = find_slide(slides, name)
        if path is None:
            problems.append(f"slide {name!r}: no slide file of that name in {slides}")
            continue
        try:
            slide = open_slide(path)
        except SlideError as exc:
            problems.append(str(exc))
            continue
        with slide:
            try:
                for x, y in sorted(corners):
                    thumbnails[(name, x, y)] = read_thumbnail(slide, x, y, patch_size, px)
            except openslide.OpenSlideError as exc:  # a corrupt tile surfaces only when it is read
                problems.append(f"{path}: OpenSlide cannot read a patch ({exc})")
    return thumbnails, problems
