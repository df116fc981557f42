"""Patch-feature bags on disk: the ``.h5`` layout of TRIDENT and CLAM, and ``.pt`` bags.

An ``.h5`` bag holds

* ``features``: (n, d) float32, one row per patch; attributes ``name`` (the
  slide), ``encoder`` (backbone name) and ``encoder_weights``;
* ``coords``: (n, 2) int64, level-0 (x, y) of each patch's top-left corner;
  attributes as TRIDENT writes them (``patch_size`` at the target resolution,
  ``patch_size_level0``, ``level0_magnification``, ``target_magnification``,
  ``overlap``, ``name``) plus CLAM's ``patch_level`` (the pyramid level read)
  and the resolutions ``mpp`` (target) and ``level0_mpp`` in µm/px.

Readers (:mod:`intersurv.h5bags`) also accept ``features`` of shape (1, n, d)
(a batch of one, as some pipelines save it) and a bag without ``coords``.

A ``.pt`` bag (TRIDENT's ``--saveas pt``) is a (n, d) tensor, or a dict with a
``features`` tensor, read with ``torch.load(weights_only=True)``.

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IntersurvError
from ..h5bags import read_h5_bag
from ..io.atomic import atomic_path

BAG_SUFFIXES = (".h5", ".pt")


def write_h5_bag(path: str | Path, features: np.ndarray, coords: np.ndarray,
                 coords_attrs: dict[str, Any], features_attrs: dict[str, Any]) -> None:
    """Write one bag atomically (temporary file in the same directory, then ``os.replace``)."""
    import h5py

    features = np.asarray(features, dtype=np.float32)
    coords = np.asarray(coords, dtype=np.int64)
    if features.ndim != 2 or coords.shape != (features.shape[0], 2):
        raise ValueError(f"features {features.shape} and coords {coords.shape} do not describe one bag")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fds = fh.create_dataset("features", data=features)
        cds = fh.create_dataset("coords", data=coords)
        fds.attrs.update(features_attrs)
        cds.attrs.update(coords_attrs)


def read_bag(path: str | Path) -> np.ndarray:
    """The (n, d) float32 patch features of an ``.h5`` or ``.pt`` bag; a malformed bag is an IntersurvError."""
    path = Path(path)
    if path.suffix == ".h5":
        x = read_h5_bag(path)[0]
    elif path.suffix == ".pt":
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and torch errors share no base class
            raise IntersurvError(f"{path}: cannot read torch file ({type(exc).__name__}: {exc})") from None
        if isinstance(obj, dict):
            obj = obj.get("features")
        if not isinstance(obj, torch.Tensor):
            raise IntersurvError(f"{path}: expected a (patches, features) tensor or a dict with 'features'")
        x = obj.detach().to(torch.float32).numpy()
    else:
        raise IntersurvError(f"{path}: not a bag (expected {' or '.join(BAG_SUFFIXES)})")
    if x.ndim != 2:
        raise IntersurvError(f"{path}: features have shape {x.shape}, expected (patches, features)")
    if not np.isfinite(x).all():
        raise IntersurvError(f"{path}: {int((~np.isfinite(x)).sum())} NaN/inf feature value(s)")
    return x

