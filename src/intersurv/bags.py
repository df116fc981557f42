"""BagSet: per-patient bags of patch features of one modality (whole-slide images as bags).

Patient ``a`` of a cohort holds a bag ``X_a`` of ``n_a`` patch vectors of width
``d`` (the patches of all of the patient's slides, in slide order). A BagSet is
the one container of such bags; row ``a`` is patient ``a`` of the cohort.

Its pooled mean, the patient-level vector the tabular paths use, is

    z_a = (1 / n_a) sum_{i=1..n_a} x_ai        (patch-weighted over all slides),

accumulated in float64 in one streaming pass (one bag in memory at a time) and
returned as float32. A patient with an empty bag (``n_a = 0``) lacks the
modality: only a cohort read with ``allow_missing`` has one, and its pooled row
is all NaN (the cohort's marker of a missing modality).

Backends, all read on demand so that a large cohort never sits in RAM at once:

* concatenated: one (T, d) array of every patch plus offsets (N + 1,), with
  patient a's patches at rows ``offsets[a]:offsets[a + 1]``; in memory
  (:meth:`BagSet.from_arrays`) or memory-mapped from a directory written by
  :func:`write_memmap_bags` / :class:`MemmapBagWriter` (``features.npy``
  float32 or float16, ``offsets.npy``, optional ``coords.npy``,
  ``informative.npy``, ``slide_index.npy`` and ``bags.json``);
* h5: TRIDENT/CLAM ``.h5`` files, one or more slides per patient
  (:func:`intersurv.wsi.bags.open_h5_bags`), each file opened per read.

Optional per-patch annotations: level-0 coordinates (n_a, 2), the slide each
patch comes from, and (simulated cohorts only) the true ``informative`` flag.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .errors import IntersurvError

#: The file that marks a memory-mapped bag directory (and holds its metadata).
MEMMAP_MANIFEST = "bags.json"
_MEMMAP_FORMAT = "intersurv-bags"
_MEMMAP_DTYPES = ("float32", "float16")


class BagStore(Protocol):
    """What a BagSet backend provides (positions are the store's own bag indices).

    ``pooled`` is the store's cached (len, d) float32 pooled means, or None.
    """

    width: int
    dtype: str
    pooled: np.ndarray | None

    def __len__(self) -> int: ...
    def sizes(self) -> np.ndarray: ...
    def features(self, i: int) -> np.ndarray: ...
    def coords(self, i: int) -> np.ndarray | None: ...
    def slide_of_patch(self, i: int) -> np.ndarray | None: ...
    def informative(self, i: int) -> np.ndarray | None: ...
    def describe(self) -> str: ...


class ConcatenatedStore:
    """Every patch in one (T, d) array (in memory or a memmap) with offsets (N + 1,).

    Bag i is rows ``starts[i]:ends[i]`` (``offsets[i]:offsets[i + 1]`` unless
    :meth:`aligned` re-indexed the bags).
    """

    def __init__(self, features: np.ndarray, offsets: np.ndarray, *, coords: np.ndarray | None = None,
                 informative: np.ndarray | None = None, slide_index: np.ndarray | None = None,
                 slide_names: Sequence[str] | None = None, pooled: np.ndarray | None = None,
                 source: str = "in memory") -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if features.ndim != 2 or offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 \
                or offsets[-1] != features.shape[0] or (np.diff(offsets) < 0).any():
            raise IntersurvError(f"{source}: offsets do not cut {features.shape[0]} patches into bags")
        total = features.shape[0]
        for label, arr, shape in (("coords", coords, (total, 2)), ("informative", informative, (total,)),
                                  ("slide_index", slide_index, (total,))):
            if arr is not None and arr.shape != shape:
                raise IntersurvError(f"{source}: {label} has shape {arr.shape}, expected {shape}")
        if (slide_index is None) != (slide_names is None):
            raise IntersurvError(f"{source}: slide_index and slide names come together")
        if pooled is not None and pooled.shape != (len(offsets) - 1, features.shape[1]):
            raise IntersurvError(f"{source}: pooled means have shape {pooled.shape}, expected "
                                 f"({len(offsets) - 1}, {features.shape[1]})")
        self._x = features
        self._starts, self._ends = offsets[:-1], offsets[1:]
        self.pooled = pooled
        self.dtype = features.dtype.name
        self._coords, self._informative = coords, informative
        self._slide_index = slide_index
        self._slide_names = None if slide_names is None else np.asarray(list(slide_names), dtype=object)
        self.width = int(features.shape[1])
        self.source = source

    def __len__(self) -> int:
        return len(self._starts)

    def sizes(self) -> np.ndarray:
        return self._ends - self._starts

    def _rows(self, i: int) -> slice:
        return slice(int(self._starts[i]), int(self._ends[i]))

    def aligned(self, rows: np.ndarray) -> "ConcatenatedStore":
        """The same patches with bag j = this store's bag ``rows[j]``, or an empty bag where ``rows[j] < 0``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = copy.copy(self)
        absent = rows < 0
        safe = np.where(absent, 0, rows)
        out._starts = np.where(absent, 0, self._starts[safe])
        out._ends = np.where(absent, 0, self._ends[safe])
        if self.pooled is not None:
            out.pooled = np.where(absent[:, None], np.float32(np.nan), self.pooled[safe]).astype(np.float32)
        return out

    def features(self, i: int) -> np.ndarray:
        return np.array(self._x[self._rows(i)], dtype=np.float32)

    def coords(self, i: int) -> np.ndarray | None:
        return None if self._coords is None else np.array(self._coords[self._rows(i)])

    def slide_of_patch(self, i: int) -> np.ndarray | None:
        if self._slide_index is None:
            return None
        return self._slide_names[np.asarray(self._slide_index[self._rows(i)], dtype=np.int64)]

    def informative(self, i: int) -> np.ndarray | None:
        return None if self._informative is None else np.array(self._informative[self._rows(i)], dtype=bool)

    def describe(self) -> str:
        return self.source


class BagSet:
    """Per-patient bags of patch features of one modality (row a = patient a of the cohort).

    A BagSet is a view: a backend (:class:`BagStore`) plus the backend rows of
    its patients, so :meth:`subset` is cheap. Every array returned is a fresh
    copy (float32 features), never a view into the backend.
    """

    def __init__(self, store: BagStore, rows: np.ndarray | None = None, *,
                 _pooled: np.ndarray | None = None) -> None:
        self._store = store
        self._rows = (np.arange(len(store), dtype=np.int64) if rows is None
                      else np.asarray(rows, dtype=np.int64).reshape(-1))
        if len(self._rows) and (self._rows.min() < 0 or self._rows.max() >= len(store)):
            raise IndexError(f"bag rows out of range for {len(store)} bags")
        self._pooled = _pooled

    # ------------------------------------------------------------ the interface
    @property
    def width(self) -> int:
        """d, features per patch."""
        return self._store.width

    def __len__(self) -> int:
        return len(self._rows)

    def sizes(self) -> np.ndarray:
        """(N,) int64, patches per patient (0 only for a patient who lacks the modality)."""
        return self._store.sizes()[self._rows]

    def bag(self, a: int) -> np.ndarray:
        """(n_a, d) float32, patient a's patches (all slides)."""
        return self._store.features(int(self._rows[a]))

    def coords(self, a: int) -> np.ndarray | None:
        """(n_a, 2) level-0 patch coordinates of patient a, or None when the bags have none."""
        return self._store.coords(int(self._rows[a]))

    def slide_of_patch(self, a: int) -> np.ndarray | None:
        """(n_a,) object array, the slide name of each of patient a's patches, or None."""
        return self._store.slide_of_patch(int(self._rows[a]))

    def informative(self, a: int) -> np.ndarray | None:
        """(n_a,) bool, the true informative flag of each patch (simulated bags only), else None."""
        return self._store.informative(int(self._rows[a]))

    def subset(self, index: np.ndarray | Sequence[int]) -> "BagSet":
        """The patients at positions ``index`` (in that order, or a boolean mask); a view, no copy of bags."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return BagSet(self._store, self._rows[idx],
                      _pooled=None if self._pooled is None else self._pooled[idx])

    def pooled(self) -> np.ndarray:
        """(N, d) float32, each bag's mean patch (float64 sums, one streaming pass, cached); NaN rows for empty bags."""
        if self._pooled is None and self._store.pooled is not None:
            self._pooled = self._store.pooled[self._rows]
            self._pooled.setflags(write=False)
        if self._pooled is None:
            out = np.full((len(self), self.width), np.nan, dtype=np.float32)
            for a in range(len(self)):
                x = self.bag(a)
                if len(x):
                    out[a] = x.mean(axis=0, dtype=np.float64)
            out.setflags(write=False)
            self._pooled = out
        return self._pooled

    @property
    def has_coords(self) -> bool:
        return len(self) > 0 and self.coords(0) is not None

    @property
    def dtype(self) -> str:
        """How the backend stores the features (``float32`` or ``float16``); :meth:`bag` returns float32."""
        return self._store.dtype

    def describe(self) -> str:
        """Where the bags live (a directory or ``in memory``)."""
        return self._store.describe()

    def __repr__(self) -> str:
        return f"BagSet({len(self)} bags, width {self.width}, {self.describe()})"

    # ------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, bags: Sequence[np.ndarray], coords: Sequence[np.ndarray] | None = None, *,
                    slides: Sequence[Sequence[str]] | None = None,
                    informative: Sequence[np.ndarray] | None = None) -> "BagSet":
        """An in-memory BagSet from one (n_a, d) array per patient.

        ``coords``: one (n_a, 2) array per patient; ``slides``: per patient, the
        slide name of each patch; ``informative``: per patient, (n_a,) bools.
        """
        if len(bags) == 0:
            raise IntersurvError("a BagSet needs at least one bag")
        arrs = [np.asarray(x, dtype=np.float32) for x in bags]
        width = arrs[0].shape[1] if arrs[0].ndim == 2 else -1
        for a, x in enumerate(arrs):
            if x.ndim != 2 or x.shape[1] != width or width < 1:
                raise IntersurvError(f"bag {a} has shape {x.shape}, expected (patches, {max(width, 1)})")
        sizes = [len(x) for x in arrs]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def _joined(parts: Sequence[np.ndarray] | None, label: str, shape_tail: tuple, dtype) -> np.ndarray | None:
            if parts is None:
                return None
            if len(parts) != len(arrs):
                raise IntersurvError(f"{len(parts)} {label} arrays for {len(arrs)} bags")
            out = [np.asarray(p, dtype=dtype).reshape((-1,) + shape_tail) for p in parts]
            for a, p in enumerate(out):
                if len(p) != sizes[a]:
                    raise IntersurvError(f"bag {a}: {len(p)} {label} rows for {sizes[a]} patches")
            return np.concatenate(out) if out else None

        slide_index = slide_names = None
        if slides is not None:
            flat = [str(s) for per in slides for s in per]
            slide_names, inverse = np.unique(np.asarray(flat, dtype=object).astype(str), return_inverse=True)
            parts = np.split(inverse.astype(np.int32), offsets[1:-1])
            slide_index = _joined(parts, "slide", (), np.int32)
            slide_names = [str(s) for s in slide_names]
        store = ConcatenatedStore(
            np.concatenate(arrs), offsets,
            coords=_joined(coords, "coords", (2,), np.float64),
            informative=_joined(informative, "informative", (), bool),
            slide_index=slide_index, slide_names=slide_names)
        return cls(store)

    @classmethod
    def open_memmap(cls, directory: str | Path, patients: Sequence[str] | None = None) -> "BagSet":
        """The bags of a directory written by :func:`write_memmap_bags`, memory-mapped read-only.

        With ``patients``, bag a is that of ``patients[a]`` by the directory's
        patient ids (an empty bag for a patient it lacks); else the directory's order.
        """
        root = Path(directory)
        meta = read_memmap_manifest(root)

        def _load(name: str, required: bool) -> np.ndarray | None:
            path = root / name
            if not path.exists():
                if required:
                    raise IntersurvError(f"{path}: missing")
                return None
            try:
                return np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IntersurvError(f"{path}: cannot read ({exc})") from None

        x = _load("features.npy", True)
        if x.dtype.name not in _MEMMAP_DTYPES:
            raise IntersurvError(f"{root / 'features.npy'}: dtype {x.dtype} is not one of {', '.join(_MEMMAP_DTYPES)}")
        pooled = _load("pooled.npy", False)
        store = ConcatenatedStore(
            x, np.asarray(_load("offsets.npy", True)), coords=_load("coords.npy", False),
            informative=_load("informative.npy", False), slide_index=_load("slide_index.npy", False),
            slide_names=meta.get("slides"), pooled=None if pooled is None else np.array(pooled, dtype=np.float32),
            source=str(root))
        if patients is not None:
            if meta.get("patients") is None:
                raise IntersurvError(f"{root / MEMMAP_MANIFEST}: no patient ids to match the bags by")
            where = {str(p): i for i, p in enumerate(meta["patients"])}
            store = store.aligned(np.array([where.get(str(p), -1) for p in patients], dtype=np.int64))
        return cls(store)


def read_memmap_manifest(directory: str | Path) -> dict:
    """The ``bags.json`` of a memory-mapped bag directory (``bags``, ``width``, ``dtype``, ``patches``,
    optional ``patients`` and ``slides``); an IntersurvError when it is not one."""
    manifest = Path(directory) / MEMMAP_MANIFEST
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise IntersurvError(f"{manifest}: cannot read the bag manifest ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _MEMMAP_FORMAT:
        raise IntersurvError(f"{manifest}: not an intersurv bag directory")
    patients = meta.get("patients")
    if patients is not None and (not isinstance(patients, list) or len(patients) != meta.get("bags")):
        raise IntersurvError(f"{manifest}: 'patients' must list one patient id per bag")
    return meta


class MemmapBagWriter:
    """Write bags one patient at a time into a memory-mapped bag directory (atomically).

    The sizes are known up front; :meth:`put` fills patient a's rows (and the
    pooled mean of what is stored, kept as ``pooled.npy``); :meth:`close`
    renames the finished temporary directory to ``directory`` (replacing an
    existing bag directory) and returns the memory-mapped BagSet. Nothing is
    left behind when the writer fails (use it as a context manager).
    """

    def __init__(self, directory: str | Path, sizes: Sequence[int], width: int, *, dtype: str = "float32",
                 coords: bool = False, informative: bool = False, slide_names: Sequence[str] | None = None,
                 patients: Sequence[str] | None = None) -> None:
        if dtype not in _MEMMAP_DTYPES:
            raise IntersurvError(f"bag dtype {dtype!r} is not one of {', '.join(_MEMMAP_DTYPES)}")
        self.directory = Path(directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.", dir=self.directory.parent))
        sizes = np.asarray(sizes, dtype=np.int64)
        self._off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = int(self._off[-1])
        open_ = np.lib.format.open_memmap
        self._x = open_(self._tmp / "features.npy", mode="w+", dtype=dtype, shape=(total, int(width)))
        self._coords = open_(self._tmp / "coords.npy", mode="w+", dtype=np.float64, shape=(total, 2)) if coords else None
        self._inf = open_(self._tmp / "informative.npy", mode="w+", dtype=bool, shape=(total,)) if informative else None
        self._slides = (open_(self._tmp / "slide_index.npy", mode="w+", dtype=np.int32, shape=(total,))
                        if slide_names is not None else None)
        self._slide_names = None if slide_names is None else [str(s) for s in slide_names]
        np.save(self._tmp / "offsets.npy", self._off)
        self._pooled = np.full((len(sizes), int(width)), np.nan, dtype=np.float32)
        if patients is not None and len(patients) != len(sizes):
            raise IntersurvError(f"{len(patients)} patient ids for {len(sizes)} bags")
        self._patients = None if patients is None else [str(p) for p in patients]
        self._dtype, self._width = dtype, int(width)

    def put(self, a: int, features: np.ndarray, *, coords: np.ndarray | None = None,
            informative: np.ndarray | None = None, slide_index: np.ndarray | None = None) -> None:
        """Patient a's (n_a, d) features (and its annotations, when the writer has them)."""
        rows = slice(int(self._off[a]), int(self._off[a + 1]))
        n = rows.stop - rows.start
        if features.shape != (n, self._width):
            raise IntersurvError(f"bag {a}: features {features.shape}, expected ({n}, {self._width})")
        self._x[rows] = features
        if n:
            self._pooled[a] = np.asarray(self._x[rows], dtype=np.float32).mean(axis=0, dtype=np.float64)
        for label, dest, value in (("coords", self._coords, coords), ("informative", self._inf, informative),
                                   ("slide index", self._slides, slide_index)):
            if dest is not None:
                if value is None:
                    raise IntersurvError(f"bag {a}: the writer needs its {label}")
                dest[rows] = value

    def close(self) -> BagSet:
        for arr in (self._x, self._coords, self._inf, self._slides):
            if arr is not None:
                arr.flush()
        np.save(self._tmp / "pooled.npy", self._pooled)
        meta = {"format": _MEMMAP_FORMAT, "version": 1, "bags": len(self._off) - 1, "width": self._width,
                "dtype": self._dtype, "patches": int(self._off[-1])}
        if self._slide_names is not None:
            meta["slides"] = self._slide_names
        if self._patients is not None:
            meta["patients"] = self._patients
        (self._tmp / MEMMAP_MANIFEST).write_text(json.dumps(meta, indent=1) + "\n")
        self._x = self._coords = self._inf = self._slides = None
        if self.directory.exists():
            if not (self.directory / MEMMAP_MANIFEST).exists():
                self.abort()
                raise IntersurvError(f"{self.directory}: exists and is not a bag directory; not replaced")
            old = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.old.", dir=self.directory.parent))
            os.replace(self.directory, old / "bags")
            os.replace(self._tmp, self.directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self._tmp, self.directory)
        return BagSet.open_memmap(self.directory)

    def abort(self) -> None:
        """Remove the temporary directory (the target is left as it was)."""
        self._x = self._coords = self._inf = self._slides = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "MemmapBagWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_memmap_bags(bags: BagSet, directory: str | Path, *, dtype: str | None = None,
                      patients: Sequence[str] | None = None) -> BagSet:
    """Copy ``bags`` (any backend) into a memory-mapped bag directory, one bag at a time; returns it opened.

    ``dtype``: ``float32`` or ``float16`` (default: as ``bags`` stores them);
    ``patients``: one id per bag, kept in the manifest.
    """
    dtype = dtype or (bags.dtype if bags.dtype in _MEMMAP_DTYPES else "float32")
    names: list[str] | None = None
    lookup: dict[str, int] = {}
    if len(bags) and bags.slide_of_patch(0) is not None:
        names = sorted({str(s) for a in range(len(bags)) for s in bags.slide_of_patch(a)})
        lookup = {s: j for j, s in enumerate(names)}
    with MemmapBagWriter(directory, bags.sizes(), bags.width, dtype=dtype, coords=bags.has_coords,
                         informative=len(bags) > 0 and bags.informative(0) is not None,
                         slide_names=names, patients=patients) as writer:
        for a in range(len(bags)):
            slides = bags.slide_of_patch(a)
            writer.put(a, bags.bag(a), coords=bags.coords(a), informative=bags.informative(a),
                       slide_index=None if slides is None else np.array([lookup[str(s)] for s in slides], np.int32))
        return writer.close()
