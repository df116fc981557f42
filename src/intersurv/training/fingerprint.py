"""What a run directory records to tell runs apart: the cohort's fingerprint and package versions."""

from __future__ import annotations

import hashlib
from importlib import metadata

import numpy as np

from .. import __version__
from ..cohort import Cohort

#: Packages whose versions are recorded in config.json.
VERSIONED_PACKAGES = ("numpy", "pandas", "scipy", "torch", "torchsurv", "scikit-survival", "lifelines")


def cohort_fingerprint(cohort: Cohort) -> str:
    """SHA-256 over ids, times, events, groups, modality names and arrays (as stored, float32), and of
    each bag modality its patches per patient (its pooled means are its array; the patches are not
    hashed: reading them all would cost a pass over the bags)."""
    h = hashlib.sha256()

    def put(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    put("ids", "\x1f".join(cohort.ids.tolist()).encode())
    put("time", np.ascontiguousarray(cohort.time, dtype="<f8").tobytes())
    put("event", np.ascontiguousarray(cohort.event, dtype="<i1").tobytes())
    if cohort.group is not None:
        put("group", "\x1f".join(cohort.group.tolist()).encode())
    for m, x in cohort.modalities.items():
        put(f"modality {m} {x.shape}", np.ascontiguousarray(x, dtype="<f4").tobytes())
    for m, bags in cohort.bags.items():
        put(f"bags {m} {bags.width}", np.ascontiguousarray(bags.sizes(), dtype="<i8").tobytes())
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python, intersurv and the libraries that shape the results."""
    import platform

    out = {"python": platform.python_version(), "intersurv": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
