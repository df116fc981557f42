"""Whole-slide images -> patch-feature bags -> the patient-level ``wsi`` modality.

* :func:`extract_slides` - tissue mask, tiling, patch encoding, one ``.h5`` bag
  per slide (``intersurv wsi extract``); needs the ``[wsi]`` extra (OpenSlide,
  scikit-image);
* :func:`build_encoder` - the built-in ResNet-50 or a torchvision/timm model,
  weights from a local file;
* :func:`pool_bags` / :func:`pool_into_cohort` - mean pooling of ``.h5``/``.pt`` bags (from this tool, TRIDENT
  or CLAM) per patient (``intersurv wsi pool``).

Modules: :mod:`.slide` (OpenSlide, resolution, patch reading), :mod:`.tissue`
(Otsu mask, tiling), :mod:`.backbones`, :mod:`.bags` (file layout),
:mod:`.extract`, :mod:`.pool`.
"""

from __future__ import annotations

from .backbones import Encoder, ResNet50Features, build_encoder
from .extract import ExtractConfig, ExtractSummary, extract_slides
from .pool import pool_bags, pool_into_cohort

__all__ = ["Encoder", "ExtractConfig", "ExtractSummary", "ResNet50Features", "build_encoder",
           "extract_slides", "pool_bags", "pool_into_cohort"]
