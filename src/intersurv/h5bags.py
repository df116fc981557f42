""".h5 patch-feature bags (TRIDENT/CLAM layout) read lazily: the readers and the BagSet backend.

An ``.h5`` bag holds ``features`` (n, d) - or (1, n, d), a batch of one, as
some pipelines save it - and optionally ``coords`` (n, 2), the level-0 (x, y)
of each patch (:mod:`intersurv.wsi.bags` documents the attributes).
:class:`H5BagStore` is the lazy :class:`~intersurv.bags.BagSet` backend over
such files: one or more slides per patient, each file opened per read, so a
cohort's bags are never in memory at once. Needs h5py only (no torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .bags import BagSet
from .errors import CohortError, IntersurvError


def _features_dataset(fh: Any, path: Path) -> tuple[Any, int, int, bool]:
    """The ``features`` dataset of an open ``.h5`` bag, its (patches, width), whether it is (1, n, d)."""
    if "features" not in fh:
        raise IntersurvError(f"{path}: no 'features' dataset (has {', '.join(fh.keys()) or 'nothing'})")
    ds = fh["features"]
    shape = tuple(getattr(ds, "shape", ()) or ())
    if len(shape) == 3 and shape[0] == 1:
        return ds, int(shape[1]), int(shape[2]), True
    if len(shape) == 2:
        return ds, int(shape[0]), int(shape[1]), False
    raise IntersurvError(f"{path}: features have shape {shape}, expected (patches, features) or "
                         "(1, patches, features)")


def h5_bag_shape(path: str | Path) -> tuple[int, int, bool]:
    """(patches, width, has coords) of an ``.h5`` bag, from its metadata (no features read)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as fh:
            _, n, d, _ = _features_dataset(fh, path)
            has_coords = "coords" in fh
            if has_coords and tuple(fh["coords"].shape) not in ((n, 2), (1, n, 2)):
                raise IntersurvError(f"{path}: coords have shape {tuple(fh['coords'].shape)}, expected ({n}, 2)")
    except OSError as exc:
        raise IntersurvError(f"{path}: cannot read HDF5 file ({exc})") from None
    return n, d, has_coords


def read_h5_bag(path: str | Path, *, features: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(features (n, d) float32, coords (n, 2) or None) of an ``.h5`` bag; NaN/inf is an IntersurvError.

    ``features=False`` reads the coordinates only (features None).
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as fh:
            ds, n, d, batched = _features_dataset(fh, path)
            coords = None
            if "coords" in fh:
                coords = np.asarray(fh["coords"][()]).reshape(-1, 2)
                if len(coords) != n:
                    raise IntersurvError(f"{path}: {len(coords)} coords for {n} patches")
            if not features:
                return None, coords
            x = np.asarray(ds[0] if batched else ds[()], dtype=np.float32)
    except OSError as exc:
        raise IntersurvError(f"{path}: cannot read HDF5 file ({exc})") from None
    bad = ~np.isfinite(x)
    if bad.any():
        raise IntersurvError(f"{path}: {int(bad.sum())} NaN/inf feature value(s), first in patch "
                             f"{int(np.argwhere(bad)[0][0])}")
    return x, coords


class H5BagStore:
    """A :class:`~intersurv.bags.BagStore` over ``.h5`` bag files: bag i = the slides ``files[i]``, in order.

    Opening reads every file's metadata (not its features) and checks it: a
    readable ``features`` dataset, at least one patch, the same width in every
    file. Features are read, and checked for NaN/inf, per bag on demand;
    coordinates are given when every file has them (else None). Every
    error is a one-line :class:`~intersurv.errors.CohortError` naming the slide
    file and its patient.
    """

    dtype = "float32"
    pooled = None

    def __init__(self, files: Sequence[Sequence[Path]], patients: Sequence[str], source: str) -> None:
        self._files = [[Path(f) for f in fs] for fs in files]
        self._patients = [str(p) for p in patients]
        self.source = source
        sizes: list[list[int]] = []
        coords: list[bool] = []
        width: tuple[int, Path] | None = None
        for fs, patient in zip(self._files, self._patients):
            counts = []
            for f in fs:
                try:
                    n, d, has_coords = h5_bag_shape(f)
                except IntersurvError as exc:
                    raise CohortError(f"{exc} (patient {patient!r})") from None
                if n == 0:
                    raise CohortError(f"{f}: empty bag, no patches (patient {patient!r})")
                if width is None:
                    width = (d, f)
                elif d != width[0]:
                    raise CohortError(f"{f}: {d} features per patch (patient {patient!r}), but "
                                      f"{width[1].name} has {width[0]}")
                counts.append(n)
                coords.append(has_coords)
            sizes.append(counts)
        if width is None:
            raise CohortError(f"{source}: no .h5 bags")
        self.width = width[0]
        self._slide_sizes = sizes
        self._sizes = np.array([sum(c) for c in sizes], dtype=np.int64)
        self._has_coords = all(coords)

    def __len__(self) -> int:
        return len(self._files)

    def sizes(self) -> np.ndarray:
        return self._sizes.copy()

    def _read(self, i: int, features: bool = True) -> list[tuple[np.ndarray, np.ndarray | None]]:
        out = []
        for f, n in zip(self._files[i], self._slide_sizes[i]):
            try:
                x, c = read_h5_bag(f, features=features)
            except IntersurvError as exc:
                raise CohortError(f"{exc} (patient {self._patients[i]!r})") from None
            if x is not None and x.shape != (n, self.width):
                raise CohortError(f"{f}: features changed to {x.shape} since the cohort was opened "
                                  f"(patient {self._patients[i]!r})")
            out.append((x, c))
        return out

    def features(self, i: int) -> np.ndarray:
        parts = [x for x, _ in self._read(i)]
        return np.concatenate(parts) if parts else np.zeros((0, self.width), np.float32)

    def coords(self, i: int) -> np.ndarray | None:
        if not self._has_coords:
            return None
        parts = [c for _, c in self._read(i, features=False)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 2))

    def slide_of_patch(self, i: int) -> np.ndarray:
        return np.repeat(np.array([f.stem for f in self._files[i]], dtype=object), self._slide_sizes[i])

    def informative(self, i: int) -> None:
        return None

    def describe(self) -> str:
        return self.source


def open_h5_bags(files: Sequence[Sequence[Path]], patients: Sequence[str], source: str) -> BagSet:
    """A lazy BagSet over ``.h5`` bags, patient i's slides being ``files[i]`` (see :class:`H5BagStore`)."""
    return BagSet(H5BagStore(files, patients, source))
