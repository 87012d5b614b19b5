"""MR volume folders (NIfTI, NRRD, MetaImage) for reconstruction and denoising: find, check, split, read slices.

Every file of the folder is read once and checked: a scalar 3-D magnitude image (no NaN, no negative values,
not all zero). Slices are the stored third axis (the card's ``axis: slice``, as MR inference slices);
slices with no object (maximum below 5 % of the volume's) are not sampled, though they count in the volume's
normalisation exactly as at inference. Each volume keeps its voxels memory-mapped (compressed files via the
volume cache) and a fixed random subsample of 100 000 of its values, from which a training sample estimates
the percentiles of its noisy or zero-filled volume without making the whole volume.

Piecewise-smooth objects (``data.synthetic_volumes``): that many generated volumes
(:func:`condswin.mri.piecewise_phantom.piecewise_smooth_volume`, 16 × 256 × 256 at 1 mm, seeded by the split
seed and their index) join the *training* volumes, written once as NIfTI files under the data cache and then
read like any other file; validation and test stay the folders' real volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from condswin.errors import InputError, InputNotFoundError
from condswin.io.images import READABLE_SUFFIXES, image_suffix, read_image, write_image
from condswin.mri.piecewise_phantom import piecewise_smooth_volume
from condswin.training.config import TrainConfig
from condswin.training.data.samples import cache_folder, hold_out
from condswin.training.data.store import (
    ArraySource,
    ProcessLocal,
    VolumeCache,
    nifti_source,
    source_from_dict,
    source_to_dict,
)

__all__ = ["MRVolume", "MRVolumeReader", "find_mr_volumes", "check_mr_volume", "synthetic_volume_files", "mr_splits"]

_OBJECT_FRACTION = 0.05
_SUBSAMPLE = 100_000
_CACHE_VERSION = "mr-1"
_SYNTHETIC_SHAPE = (16, 256, 256)
SYNTHETIC_VERSION = "piecewise-1"


@dataclass(frozen=True)
class MRVolume:
    """A checked MR magnitude volume.

    Attributes:
        volume_id: the file name (validation metrics are per volume; per-file seeds use it).
        path: the file.
        source: its voxels (k, j, i), memory-mapped.
        subsample: a fixed random subsample of its voxel values (1-D float32).
        maximum: the largest voxel value (noise σ is relative to it).
        slices: the slices sampled (those holding object).
        spacing: (row, column) pixel size in mm.
    """

    volume_id: str
    path: str
    source: ArraySource
    subsample: ArraySource
    maximum: float
    slices: tuple[int, ...]
    spacing: tuple[float, float]

    @property
    def num_slices(self) -> int:
        """Slices in the volume (all of them, sampled or not)."""
        return int(self.source.shape[0])


def find_mr_volumes(root: str | Path, source: str) -> list[Path]:
    """The image files directly in a folder (sorted by name).

    Raises:
        InputNotFoundError: the folder does not exist.
        InputError: it holds no image files.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such folder of MR volumes (data.root / data.val_root of {source})")
    paths = sorted(p for p in root.iterdir() if p.is_file() and image_suffix(p) in READABLE_SUFFIXES)
    if not paths:
        raise InputError(f"{root}: no MR volumes ({', '.join(READABLE_SUFFIXES)} files)")
    return paths


def check_mr_volume(path: Path, cache: VolumeCache) -> MRVolume:
    """Check one MR volume (or reuse the check of the unchanged file) and map its voxels.

    Raises:
        InputError: naming the file: unreadable, not 3-D scalar, NaN, negative values, or all zero.
    """
    name = path.name.split(".")[0]
    key = f"{_CACHE_VERSION}|{VolumeCache.file_key(path)}"
    info = cache.info(name, key)
    if info is None or not all(Path(info[k]["path"]).is_file() for k in ("source", "subsample")):
        image = read_image(path, ndim=3)  # ImageFileError (an InputError) names the file
        array = sitk.GetArrayViewFromImage(image)
        if np.iscomplexobj(array) or array.dtype.kind not in "biuf":
            raise InputError(f"{path}: an MR volume must hold real magnitude values, got {array.dtype}")
        minimum, maximum = float(array.min()), float(array.max())
        if minimum < 0:
            raise InputError(
                f"{path}: holds negative values (minimum {minimum:g}); noise and k-space are simulated from "
                "magnitude images, which are never negative"
            )
        if not maximum > 0:
            raise InputError(f"{path}: the volume is all zero")
        per_slice = array.reshape(array.shape[0], -1).max(axis=1)
        values = array.reshape(-1)
        picks = np.random.default_rng(0).choice(values.size, size=min(_SUBSAMPLE, values.size), replace=False)
        mapped = nifti_source(path) or cache.put_array(name, key, "voxels", array)
        info = {
            "source": source_to_dict(mapped),
            "subsample": source_to_dict(cache.put_array(name, key, "subsample", values[picks].astype(np.float32))),
            "maximum": maximum,
            "slices": np.flatnonzero(per_slice > _OBJECT_FRACTION * maximum).tolist(),
            "spacing": [float(image.GetSpacing()[1]), float(image.GetSpacing()[0])],
        }
        cache.put_info(name, key, info)
    return MRVolume(
        volume_id=path.name,
        path=str(path),
        source=source_from_dict(info["source"]),
        subsample=source_from_dict(info["subsample"]),
        maximum=float(info["maximum"]),
        slices=tuple(int(s) for s in info["slices"]),
        spacing=(float(info["spacing"][0]), float(info["spacing"][1])),
    )


def synthetic_volume_files(count: int, split_seed: int, folder: Path) -> list[Path]:
    """The generated piecewise-smooth training volumes as NIfTI files in ``folder`` (made once, then reused).

    File names carry the generator's version, the split seed and the index, so a changed generator or seed
    never reuses an old file; each is written atomically, so an interrupted run leaves no half file.
    """
    paths = []
    for index in range(count):
        path = folder / f"{SYNTHETIC_VERSION}-s{split_seed}-{index:03d}.nii.gz"
        if not path.is_file():
            seed = int(np.random.SeedSequence([split_seed, index]).generate_state(1)[0])
            array = piecewise_smooth_volume(seed, _SYNTHETIC_SHAPE)
            image = sitk.GetImageFromArray(array.astype(np.float32))
            write_image(image, path, overwrite=True, modality="MR")
        paths.append(path)
    return paths


def mr_splits(config: TrainConfig) -> tuple[list[MRVolume], list[MRVolume], list[MRVolume], str]:
    """Check the MR folders of a run and split them by whole volumes.

    Returns:
        ``(train, val, test, description)``.

    Raises:
        InputNotFoundError / InputError: missing folders or bad files, naming them.
        UsageError: more held-out volumes than found.
    """
    data = config.data
    assert data.root is not None  # every kind but phantom has one (checked with the config)
    cache = VolumeCache(cache_folder(config))
    volumes = [check_mr_volume(p, cache) for p in find_mr_volumes(data.root, config.source)]
    val_volumes = None
    if data.val_root:
        val_volumes = [check_mr_volume(p, cache) for p in find_mr_volumes(data.val_root, config.source)]
    train, val, test = hold_out(volumes, val_volumes, config)
    if data.synthetic_volumes:
        folder = cache_folder(config) / "synthetic"
        files = synthetic_volume_files(data.synthetic_volumes, data.split_seed, folder)
        train = train + [check_mr_volume(p, cache) for p in files]
    if data.val_root:
        held = f"validation volumes from {data.val_root}"
    else:
        held = f"whole volumes held out by a seeded split (seed {data.split_seed})"
    counts = ", ".join(
        f"{name} {len(vols)} volumes / {sum(len(v.slices) for v in vols)} slices"
        for name, vols in (("train", train), ("validation", val), ("test", test))
        if vols
    )
    generated = (
        f" (training includes {data.synthetic_volumes} generated piecewise-smooth objects)"
        if data.synthetic_volumes
        else ""
    )
    return train, val, test, f"MR volumes in {data.root}: {counts}{generated}; {held}"


class MRVolumeReader:
    """Reads slices of MR volumes in any process (memory maps opened lazily, never pickled)."""

    def __init__(self) -> None:
        self._maps: ProcessLocal[np.ndarray] = ProcessLocal(capacity=128)

    def slice(self, volume: MRVolume, index: int) -> np.ndarray:
        """Slice ``index`` as float32 (h, w)."""
        mapped = self._maps.get(volume.source.path, volume.source.open)
        return np.asarray(volume.source.values(mapped[index]), dtype=np.float32)

    def volume(self, volume: MRVolume) -> np.ndarray:
        """The whole volume as float32 (k, j, i) (for the exact normalisation of evaluation volumes)."""
        mapped = self._maps.get(volume.source.path, volume.source.open)
        return np.asarray(volume.source.values(mapped[:]), dtype=np.float32)

    def subsample(self, volume: MRVolume) -> np.ndarray:
        """The volume's fixed subsample of voxel values (float32, 1-D)."""
        return np.asarray(self._maps.get(volume.subsample.path, volume.subsample.open), dtype=np.float32)
