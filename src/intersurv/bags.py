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
  (:meth:`BagSet.from_arrays`) or on disk in a *bag directory*
  (:meth:`BagSet.open_dir`, written by :func:`write_bag_dir` /
  :class:`BagDirWriter`): ``features.npy`` (T, d) float32 or float16, read
  per bag with positioned reads (:class:`NpyRows`; any .npy reader, e.g.
  ``numpy.load(mmap_mode="r")``, can also map it), ``offsets.npy``,
  ``pooled.npy`` (the pooled means, written with the bags), optional
  ``coords.npy``, ``informative.npy``, ``slide_index.npy``, and the manifest
  ``bags.json`` (width, dtype, patient ids, slide names);
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
import uuid
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from .errors import IntersurvError

#: The file that marks a bag directory (and holds its metadata).
BAG_MANIFEST = "bags.json"
_BAG_FORMAT = "intersurv-bags"
#: How a bag directory may store its features.
BAG_DTYPES = ("float32", "float16")


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
    """Every patch in one (T, d) array (in memory, or :class:`NpyRows` on disk) with offsets (N + 1,).

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
        rows = self._x[self._rows(i)]  # a view of an in-memory array, a fresh array from NpyRows
        return rows.astype(np.float32, copy=isinstance(self._x, np.ndarray))

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
    def open_dir(cls, directory: str | Path, patients: Sequence[str] | None = None) -> "BagSet":
        """The bags of a bag directory (:func:`write_bag_dir`); features read per bag from disk.

        With ``patients``, bag a is that of ``patients[a]`` by the directory's
        patient ids (an empty bag for a patient it lacks); else the directory's order.
        """
        root = Path(directory)
        meta = read_bag_manifest(root)

        def _load(name: str, required: bool) -> np.ndarray | None:
            path = root / name
            if not path.exists():
                if required:
                    raise IntersurvError(f"{path}: missing")
                return None
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IntersurvError(f"{path}: cannot read ({exc})") from None

        x = NpyRows(root / "features.npy")
        if x.dtype.name not in BAG_DTYPES or x.dtype.name != meta.get("dtype"):
            raise IntersurvError(f"{x.path}: dtype {x.dtype} is not the manifest's {meta.get('dtype')!r} "
                                 f"(one of {', '.join(BAG_DTYPES)})")
        pooled = _load("pooled.npy", False)
        store = ConcatenatedStore(
            x, _load("offsets.npy", True), coords=_load("coords.npy", False),
            informative=_load("informative.npy", False), slide_index=_load("slide_index.npy", False),
            slide_names=meta.get("slides"), pooled=None if pooled is None else pooled.astype(np.float32),
            source=str(root))
        if patients is not None:
            if meta.get("patients") is None:
                raise IntersurvError(f"{root / BAG_MANIFEST}: no patient ids to match the bags by")
            where = {str(p): i for i, p in enumerate(meta["patients"])}
            store = store.aligned(np.array([where.get(str(p), -1) for p in patients], dtype=np.int64))
        return cls(store)


class NpyRows:
    """Row ranges of a 2-D C-order ``.npy`` file, read with positioned reads (``os.preadv``).

    Not memory-mapped on purpose: pages of a mapped file that a pass has
    touched count in the process's resident memory (RSS), so one pass over a
    2 GB bag file would add 2 GB to it; positioned reads leave RSS at one bag
    (the OS page cache still serves re-reads). The file is opened once per
    process (a BagSet may be sent to worker processes).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                self.offset = fh.tell()
                size = os.fstat(fh.fileno()).st_size
        except (OSError, ValueError) as exc:
            raise IntersurvError(f"{self.path}: cannot read ({exc})") from None
        if len(shape) != 2 or fortran:
            raise IntersurvError(f"{self.path}: expected a 2-D C-order array, found shape {shape}")
        self.shape, self.dtype = (int(shape[0]), int(shape[1])), np.dtype(dtype)
        self.ndim = 2
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        if size < self.offset + self.shape[0] * self._row_bytes:
            raise IntersurvError(f"{self.path}: truncated ({size} bytes for {self.shape} {self.dtype})")
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        out = np.empty((max(stop - start, 0), self.shape[1]), dtype=self.dtype)
        if out.size:
            got = os.preadv(self._file(), [out], self.offset + start * self._row_bytes)
            if got != out.nbytes:
                raise IntersurvError(f"{self.path}: short read at patch {start}")
        return out

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)


def read_bag_manifest(directory: str | Path) -> dict:
    """The ``bags.json`` of a bag directory (``bags``, ``width``, ``dtype``, ``patches``, optional
    ``patients``, ``slides`` and ``generator``); an IntersurvError when it is not one."""
    manifest = Path(directory) / BAG_MANIFEST
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise IntersurvError(f"{manifest}: cannot read the bag manifest ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _BAG_FORMAT:
        raise IntersurvError(f"{manifest}: not an intersurv bag directory")
    patients = meta.get("patients")
    if patients is not None and (not isinstance(patients, list) or len(patients) != meta.get("bags")):
        raise IntersurvError(f"{manifest}: 'patients' must list one patient id per bag")
    return meta


class BagDirWriter:
    """Write a bag directory one patient at a time (atomically; see the module docstring).

    The sizes are known up front; :meth:`put` writes patient a's patches
    (positioned writes, nothing mapped) and the pooled mean of what is stored
    (kept as ``pooled.npy``); annotations are kept in memory (a few bytes per
    patch) until :meth:`close`, which renames the finished temporary directory
    to ``directory`` (replacing an existing bag directory) and returns the
    opened BagSet. ``generator``: any JSON describing how the bags were made
    (the simulator uses it to recognise its cache). Nothing is left behind when
    the writer fails (use it as a context manager).
    """

    def __init__(self, directory: str | Path, sizes: Sequence[int], width: int, *, dtype: str = "float32",
                 coords: bool = False, informative: bool = False, slide_names: Sequence[str] | None = None,
                 patients: Sequence[str] | None = None, generator: Any = None) -> None:
        if dtype not in BAG_DTYPES:
            raise IntersurvError(f"bag dtype {dtype!r} is not one of {', '.join(BAG_DTYPES)}")
        sizes = np.asarray(sizes, dtype=np.int64)
        if patients is not None and len(patients) != len(sizes):
            raise IntersurvError(f"{len(patients)} patient ids for {len(sizes)} bags")
        self.directory = Path(directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # not mkdtemp (mode 0700): a plain mkdir gives the directory the usual permissions (umask)
        self._tmp = self.directory.parent / f".{self.directory.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        self._tmp.mkdir()
        self._off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total, self._width, self._dtype = int(self._off[-1]), int(width), np.dtype(dtype)
        self._fh = open(self._tmp / "features.npy", "wb")
        np.lib.format.write_array_header_1_0(self._fh, {"descr": np.lib.format.dtype_to_descr(self._dtype),
                                                        "fortran_order": False, "shape": (total, self._width)})
        self._data_offset = self._fh.tell()
        self._fh.truncate(self._data_offset + total * self._width * self._dtype.itemsize)
        self._coords = np.zeros((total, 2), np.float64) if coords else None
        self._inf = np.zeros(total, bool) if informative else None
        self._slides = np.zeros(total, np.int32) if slide_names is not None else None
        self._pooled = np.full((len(sizes), self._width), np.nan, dtype=np.float32)
        self._meta: dict[str, Any] = {"format": _BAG_FORMAT, "version": 1, "bags": len(sizes),
                                      "width": self._width, "dtype": self._dtype.name, "patches": total}
        if slide_names is not None:
            self._meta["slides"] = [str(x) for x in slide_names]
        if patients is not None:
            self._meta["patients"] = [str(p) for p in patients]
        if generator is not None:
            self._meta["generator"] = generator

    def put(self, a: int, features: np.ndarray, *, coords: np.ndarray | None = None,
            informative: np.ndarray | None = None, slide_index: np.ndarray | None = None) -> None:
        """Patient a's (n_a, d) features (and its annotations, when the writer has them)."""
        rows = slice(int(self._off[a]), int(self._off[a + 1]))
        n = rows.stop - rows.start
        if features.shape != (n, self._width):
            raise IntersurvError(f"bag {a}: features {features.shape}, expected ({n}, {self._width})")
        stored = np.ascontiguousarray(features, dtype=self._dtype)
        os.pwrite(self._fh.fileno(), stored.tobytes(),
                  self._data_offset + rows.start * self._width * self._dtype.itemsize)
        if n:
            self._pooled[a] = stored.astype(np.float32).mean(axis=0, dtype=np.float64)
        for label, dest, value in (("coords", self._coords, coords), ("informative", self._inf, informative),
                                   ("slide index", self._slides, slide_index)):
            if dest is not None:
                if value is None:
                    raise IntersurvError(f"bag {a}: the writer needs its {label}")
                dest[rows] = value

    def close(self) -> BagSet:
        self._fh.close()
        np.save(self._tmp / "offsets.npy", self._off)
        np.save(self._tmp / "pooled.npy", self._pooled)
        for name, arr in (("coords", self._coords), ("informative", self._inf), ("slide_index", self._slides)):
            if arr is not None:
                np.save(self._tmp / f"{name}.npy", arr)
        (self._tmp / BAG_MANIFEST).write_text(json.dumps(self._meta, indent=1) + "\n")
        if self.directory.exists():
            if not (self.directory / BAG_MANIFEST).exists():
                self.abort()
                raise IntersurvError(f"{self.directory}: exists and is not a bag directory; not replaced")
            old = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.old.", dir=self.directory.parent))
            os.replace(self.directory, old / "bags")
            os.replace(self._tmp, self.directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self._tmp, self.directory)
        return BagSet.open_dir(self.directory)

    def abort(self) -> None:
        """Remove the temporary directory (the target is left as it was)."""
        self._fh.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "BagDirWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_bag_dir(bags: BagSet, directory: str | Path, *, dtype: str | None = None,
                  patients: Sequence[str] | None = None) -> BagSet:
    """Copy ``bags`` (any backend) into a bag directory, one bag at a time; returns it opened.

    ``dtype``: ``float32`` or ``float16`` (default: as ``bags`` stores them);
    ``patients``: one id per bag, kept in the manifest.
    """
    dtype = dtype or (bags.dtype if bags.dtype in BAG_DTYPES else "float32")
    names: list[str] | None = None
    lookup: dict[str, int] = {}
    if len(bags) and bags.slide_of_patch(0) is not None:
        names = sorted({str(s) for a in range(len(bags)) for s in bags.slide_of_patch(a)})
        lookup = {s: j for j, s in enumerate(names)}
    with BagDirWriter(directory, bags.sizes(), bags.width, dtype=dtype, coords=bags.has_coords,
                      informative=len(bags) > 0 and bags.informative(0) is not None,
                      slide_names=names, patients=patients) as writer:
        for a in range(len(bags)):
            slides = bags.slide_of_patch(a)
            writer.put(a, bags.bag(a), coords=bags.coords(a), informative=bags.informative(a),
                       slide_index=None if slides is None else np.array([lookup[str(s)] for s in slides], np.int32))
        return writer.close()
