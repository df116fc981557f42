"""Whole-slide images -> patch-feature bags -> the patient-level ``wsi`` modality.

* :func:`extract_slides` - tissue mask, tiling, patch encoding, one ``.h5`` bag
  per slide (``intersurv wsi extract``); needs the ``[wsi]`` extra (OpenSlide,
  scikit-image);
* :func:`build_encoder` - the built-in ResNet-50 or a torchvision/timm model,
  weights from a local file;
* :func:`pool_bags` / :func:`pool_into_cohort` - mean pooling of ``.h5``/``.pt`` bags (from this tool, TRIDENT
  or CLAM) per patient (``intersurv wsi pool``).

Modules: :mod:`.slide` (OpenSlide, resolution, patch reading), :mod:`.tissue`
(Otsu mask, tiling), :mod:`.backbones`, :mod:`.bags` (file layout, the lazy
``.h5`` bag store of bag modalities), :mod:`.extract`, :mod:`.pool`.

Importing this package does not import torch: the names below are loaded on
first use (reading ``.h5`` bags needs only h5py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backbones import Encoder, ResNet50Features, build_encoder
    from .extract import ExtractConfig, ExtractSummary, extract_slides
    from .pool import pool_bags, pool_into_cohort

_HOMES = {"Encoder": "backbones", "ResNet50Features": "backbones", "build_encoder": "backbones",
          "ExtractConfig": "extract", "ExtractSummary": "extract", "extract_slides": "extract",
          "pool_bags": "pool", "pool_into_cohort": "pool"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
