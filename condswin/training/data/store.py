"""Volumes on disk, read a slice at a time: memory-mapped voxels, a per-process cache of what is open, and
what is remembered about a volume across processes and runs.

A training set never sits in RAM. Each volume is an :class:`ArraySource`: an uncompressed file whose voxels are
memory-mapped read-only on first use, so reading slice ``i`` touches only that slice's pages.

* An uncompressed NIfTI-1 file (LiTS ships ``.nii``) is mapped in place: its 348-byte header gives the data
  offset, type and scaling.
* Anything else (``.nii.gz``, NRRD, MHA) is decompressed once into ``<cache_dir>/<name>-<role>-<hash>.npy``
  beside a small JSON of what the checks found. The key covers the source's path, size and modification
  time, so a changed file is converted and checked again, and a later run (or another rank of a
  DDP job) reuses the copy instead of decompressing and checking every volume at start-up. Files are written
  by the one atomic writer, so ranks racing on the same copy never see half of one.

:class:`ProcessLocal` holds what a process opened (memory maps, h5py files) and forgets it when pickled or
when it finds itself in a new process (a forked DataLoader worker), so no open handle crosses processes.

:class:`FitMemo` remembers volume normalisations that take a whole volume to compute. A reconstruction sample
is normalised with the percentiles of its zero-filled *volume*, which only exists after every slice has been
undersampled: the value is computed the first time a process needs it and kept in memory and in the volume
cache (a small JSON record keyed by everything it depends on), so other workers, ranks and later runs read it
instead of computing it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from condswin.io.atomic import atomic_path, write_json_atomic

__all__ = ["ArraySource", "ProcessLocal", "VolumeCache", "nifti_source", "FitMemo", "Fit"]

V = TypeVar("V")

Fit = tuple[float, float] | None

_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


@dataclass(frozen=True)
class ArraySource:
    """An uncompressed 3-D array on disk, in SimpleITK's numpy order (k, j, i).

    Attributes:
        path: the file.
        offset: byte offset of the voxels (-1: a ``.npy`` file, whose own header says where they are).
        dtype: numpy dtype string including byte order (``<i2``).
        shape: (k, j, i) for a volume; any shape for a stored array (a 1-D intensity subsample, say).
        slope / inter: voxel value = stored value * slope + inter (NIfTI ``scl_slope`` / ``scl_inter``).
    """

    path: str
    offset: int
    dtype: str
    shape: tuple[int, ...]
    slope: float = 1.0
    inter: float = 0.0

    def open(self) -> np.ndarray:
        """Map the voxels read-only (no data is read until it is indexed)."""
        if self.offset < 0:
            return np.load(self.path, mmap_mode="r")
        return np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset, shape=self.shape)

    def values(self, stored: np.ndarray) -> np.ndarray:
        """Stored values → voxel values (float32 when the file is scaled, else the stored type)."""
        if self.slope == 1.0 and self.inter == 0.0:
            return stored
        return stored.astype(np.float32) * np.float32(self.slope) + np.float32(self.inter)


def nifti_source(path: str | os.PathLike) -> ArraySource | None:
    """An :class:`ArraySource` mapping an uncompressed 3-D NIfTI-1 file in place, or None when it cannot.

    None for anything else (compressed, NIfTI-2, a 4-D file, an unusual voxel type, a truncated file): those
    are converted into the cache instead.

    Args:
        path: the file.

    Returns:
        The source, or None.
    """
    path = Path(path)
    if not path.name.endswith(".nii") or not path.is_file():
        return None
    with path.open("rb") as handle:
        header = handle.read(348)
    if len(header) < 348 or header[344:348] not in (b"n+1\x00", b"n+1"):
        return None
    for order in ("<", ">"):
        if int(np.frombuffer(header, dtype=f"{order}i4", count=1)[0]) == 348:
            break
    else:
        return None
    dim = np.frombuffer(header, dtype=f"{order}i2", count=8, offset=40)
    datatype = int(np.frombuffer(header, dtype=f"{order}i2", count=1, offset=70)[0])
    vox_offset = int(np.frombuffer(header, dtype=f"{order}f4", count=1, offset=108)[0])
    slope, inter = (float(v) for v in np.frombuffer(header, dtype=f"{order}f4", count=2, offset=112))
    if dim[0] != 3 and not (dim[0] == 4 and dim[4] == 1):
        return None
    if datatype not in _NIFTI_TYPES or min(dim[1:4]) < 1:
        return None
    dtype = np.dtype(order + _NIFTI_TYPES[datatype])
    shape = (int(dim[3]), int(dim[2]), int(dim[1]))
    if path.stat().st_size < vox_offset + dtype.itemsize * int(np.prod(shape)):
        return None  # truncated: reading it through SimpleITK reports the problem properly
    if slope == 0.0 or not np.isfinite(slope) or not np.isfinite(inter):
        slope, inter = 1.0, 0.0  # NIfTI: a zero slope means "no scaling"
    return ArraySource(str(path), vox_offset, dtype.str, shape, slope, inter)


class ProcessLocal(Generic[V]):
    """A small LRU map of objects that belong to one process (memory maps, open files, generated volumes).

    Args:
        capacity: how many values to keep (the least recently used is dropped, and closed if it can be).
        weight: optional cost of a value (e.g. bytes); with ``budget`` the cache also keeps the total below it.
        budget: total weight allowed (None: count only).
    """

    def __init__(self, capacity: int, weight: Callable[[V], int] | None = None, budget: int | None = None):
        self.capacity = max(1, int(capacity))
        self.weight = weight
        self.budget = budget
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._pid = os.getpid()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``, made with ``make()`` when this process has not made it (or dropped it)."""
        if self._pid != os.getpid():
            self._items = OrderedDict()  # inherited by fork: never reuse the parent's handles
            self._pid = os.getpid()
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.capacity or self._over_budget():
            _, dropped = self._items.popitem(last=False)
            close = getattr(dropped, "close", None)
            if callable(close) and not isinstance(dropped, np.ndarray):
                close()
        return value

    def _over_budget(self) -> bool:
        if self.budget is None or self.weight is None or len(self._items) <= 1:
            return False
        return sum(self.weight(v) for v in self._items.values()) > self.budget

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_items"] = OrderedDict()  # open handles and big arrays never travel to a worker
        return state

    def __len__(self) -> int:
        return len(self._items)


class VolumeCache:
    """Uncompressed ``.npy`` arrays and small JSON records, each stored under a name and a key.

    The key says what the entry depends on: for a file, :meth:`file_key` (its path, size and modification
    time, plus any settings); for a generated volume, its generator's parameters. A changed key is a new
    entry, so nothing stale is ever used. File names are ``<name>-<role>-<hash of key>.npy|.json``.

    Args:
        folder: where the entries live (created on first write).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @staticmethod
    def file_key(path: str | os.PathLike, extra: str = "") -> str:
        """The key of a source file: resolved path, size, modification time, and ``extra``."""
        path = Path(path).resolve()
        stat = path.stat()
        return f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{extra}"

    def _path(self, name: str, key: str, role: str, suffix: str) -> Path:
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
        return self.folder / f"{name}-{role}-{digest}{suffix}"

    def info(self, name: str, key: str) -> dict[str, Any] | None:
        """The record stored for (name, key), or None."""
        try:
            return json.loads(self._path(name, key, "info", ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_info(self, name: str, key: str, info: dict[str, Any]) -> None:
        """Store a record for (name, key) (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(info, self._path(name, key, "info", ".json"))

    def array(self, name: str, key: str, role: str) -> ArraySource | None:
        """The stored array ``role`` of (name, key), or None (also for a damaged file, which is made again)."""
        target = self._path(name, key, role, ".npy")
        if not target.is_file():
            return None
        try:
            mapped = np.load(target, mmap_mode="r")
        except (OSError, ValueError):
            return None
        return ArraySource(str(target), -1, mapped.dtype.str, tuple(int(s) for s in mapped.shape))

    def put_array(self, name: str, key: str, role: str, array: np.ndarray) -> ArraySource:
        """Store an array as ``.npy`` (atomically) and return the source that maps it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(name, key, role, ".npy")
        with atomic_path(target) as tmp, tmp.open("wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
        return ArraySource(str(target), -1, array.dtype.str, tuple(int(s) for s in array.shape))


def source_to_dict(source: ArraySource) -> dict[str, Any]:
    """JSON form of a source (for the cache's check results)."""
    return asdict(source)


def source_from_dict(values: dict[str, Any]) -> ArraySource:
    """Inverse of :func:`source_to_dict`."""
    return ArraySource(
        path=str(values["path"]),
        offset=int(values["offset"]),
        dtype=str(values["dtype"]),
        shape=tuple(int(s) for s in values["shape"]),
        slope=float(values["slope"]),
        inter=float(values["inter"]),
    )


class FitMemo:
    """Remembered ``Normalization.fit`` results.

    Args:
        cache: the volume cache (where values persist).
        settings: everything besides the volume that the values depend on (masks, noise, normalisation ...).
    """

    def __init__(self, cache: VolumeCache, settings: str):
        self.cache = cache
        self.settings = settings
        self._values: ProcessLocal[Fit] = ProcessLocal(capacity=1_000_000)

    def get(self, name: str, source_key: str, role: str, compute: Callable[[], Fit]) -> Fit:
        """The value for (volume, role), computed with ``compute()`` if no process has stored it yet.

        Args:
            name: the volume's name (for the cache file name).
            source_key: :meth:`VolumeCache.file_key` of the volume's file.
            role: which value (e.g. ``evaluation`` or ``pair-0``).
            compute: makes the value: ``(offset, scale)``, or None when the normalisation is per slice.
        """
        key = f"fit-1|{self.settings}|{source_key}|{role}"

        def load_or_compute() -> Fit:
            record = self.cache.info(f"{name}-fit", key)
            if record is not None:
                value = record["fit"]
                return None if value is None else (float(value[0]), float(value[1]))
            value = compute()
            self.cache.put_info(f"{name}-fit", key, {"fit": None if value is None else list(value)})
            return value

        return self._values.get(key, load_or_compute)
