"""MR reconstruction from fastMRI single-coil ``.h5`` folders, read a slice at a time.

Folders: ``<root>/singlecoil_train`` and ``<root>/singlecoil_val`` when present; otherwise ``root`` holds the
training files and validation comes from ``data.val_root`` or from whole files of ``root`` held out by the
seeded split. Every file's schema is checked when the datasets are built, without reading its arrays
(:mod:`condswin.mri.fastmri` describes it): a complex (slices, H, W) ``kspace`` (multi-coil files are
refused), a ``reconstruction_esc`` (else ``reconstruction_rss``) target of the same slice count that fits
inside the k-space image, and no ``mask`` (test and challenge files are already undersampled and have no
target to learn from).

Samples: ``kspace[s]`` and ``target[s]`` read with h5py (files opened per process, never pickled), the mask
applied (fresh per training sample, per-file seeded for validation; :mod:`.kspace_samples`), the zero-filled
image centre-cropped to the target's size (fastMRI's 320×320), magnitude or complex. Normalisation: the card's
percentiles of the zero-filled volume, exact for validation files, per (file, acceleration pair) for training
samples (:mod:`.fit_memo`, as in :mod:`.mr_reconstruction`). Training augmentation transforms the fully
sampled complex image and the target together before the mask is applied.

Data-consistency models (:mod:`condswin.models.data_consistency`) get the zero-filled image on the whole
k-space grid (not cropped, not windowed: DC needs its Fourier relation to the measured columns), the whole
target and the column mask; the module crops the output to the target. Every file of such a run must then
share one k-space and target shape (a batch is one tensor), and the intensity jitter is not applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.models.data_consistency import is_data_consistent
from condswin.mri.fastmri import TARGET_KEYS, check_schema
from condswin.mri.fft import fft2c, ifft2c
from condswin.training.config import TrainConfig
from condswin.training.data.augment import Geometric
from condswin.training.data.contract import channels, input_contract, normalization_of, output_contract
from condswin.training.data.fit_memo import Fit, FitMemo
from condswin.training.data.image_samples import as_channels, image_sample
from condswin.training.data.kspace_samples import MaskDrawer, zero_filled_input
from condswin.training.data.samples import DataSplits, SliceSample
from condswin.training.data.slices import SliceDataset, build_index, cache_folder
from condswin.training.data.split import split_volumes
from condswin.training.data.store import ProcessLocal, VolumeCache

__all__ = ["FastMRIFile", "FastMRIDataset", "build_fastmri", "check_fastmri_file", "fastmri_folders"]

LICENCE = "fastMRI: NYU fastMRI dataset sharing agreement (research use)"


@dataclass(frozen=True)
class FastMRIFile:
    """A checked fastMRI single-coil training/validation file."""

    path: str
    target_key: str
    num_slices: int
    kspace_shape: tuple[int, int]
    target_shape: tuple[int, int]

    @property
    def volume_id(self) -> str:
        """The file name (fastMRI's per-file mask seed is taken from it)."""
        return Path(self.path).name


def check_fastmri_file(path: Path) -> FastMRIFile:
    """Check a file's schema without reading its arrays.

    Raises:
        InputError: naming the file: not HDF5, the fastMRI schema broken (:func:`condswin.mri.fastmri.check_schema`),
            multi-coil, a ``mask`` (already undersampled), no target, or a target that does not fit the k-space.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            # The schema as every reader checks it (types, shapes, slice counts), for one slice's read size:
            # training reads a slice at a time.
            _, target_key = check_schema(f, 0, str(path))
            kspace = f["kspace"]
            if kspace.ndim == 4:
                raise InputError(
                    f"{path}: multi-coil k-space {kspace.shape}; training reads single-coil files (slices, H, W)"
                )
            if "mask" in f:
                raise InputError(
                    f"{path}: carries a 'mask' (an already undersampled test/challenge file); training needs fully "
                    "sampled k-space and a target"
                )
            if target_key is None:
                raise InputError(
                    f"{path}: no target ({' or '.join(TARGET_KEYS)}); a file without one cannot be trained on"
                )
            target = f[target_key]
            if target.shape[1] > kspace.shape[1] or target.shape[2] > kspace.shape[2]:
                raise InputError(
                    f"{path}: {target_key} {target.shape[1:]} is larger than the k-space image {kspace.shape[1:]}"
                )
            return FastMRIFile(
                path=str(path),
                target_key=target_key,
                num_slices=int(kspace.shape[0]),
                kspace_shape=(int(kspace.shape[1]), int(kspace.shape[2])),
                target_shape=(int(target.shape[1]), int(target.shape[2])),
            )
    except InputError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable fastMRI HDF5 file ({exc})") from None


def _h5_files(folder: Path, source: str) -> list[FastMRIFile]:
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such fastMRI folder (data.root / data.val_root of {source})")
    paths = sorted(p for p in folder.iterdir() if p.suffix == ".h5" and p.is_file())
    if not paths:
        raise InputError(f"{folder}: no fastMRI .h5 files")
    return [check_fastmri_file(p) for p in paths]


def fastmri_folders(config: TrainConfig) -> tuple[list[FastMRIFile], list[FastMRIFile], list[FastMRIFile], str]:
    """Find, check and split the fastMRI files of a run: ``(train, val, test, description)``.

    Raises:
        InputNotFoundError / InputError: missing folders or bad files, naming them.
        UsageError: more held-out files than found.
    """
    data = config.data
    root = Path(data.root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such fastMRI folder (data.root of {config.source})")
    if (root / "singlecoil_train").is_dir():
        files = _h5_files(root / "singlecoil_train", config.source)
        val_folder = Path(data.val_root) if data.val_root else root / "singlecoil_val"
    else:
        files = _h5_files(root, config.source)
        val_folder = Path(data.val_root) if data.val_root else None
    if val_folder is not None:
        val = _h5_files(val_folder, config.source)
        train, _, test = split_volumes(files, 0, data.test_volumes, data.split_seed, config.source)
        held = f"validation files from {val_folder}"
    else:
        if data.val_volumes < 1:
            raise UsageError(f"{config.source}: data.val_volumes must be >= 1 without data.val_root")
        train, val, test = split_volumes(files, data.val_volumes, data.test_volumes, data.split_seed, config.source)
        held = f"whole files held out by a seeded split (seed {data.split_seed})"
    counts = ", ".join(
        f"{name} {len(group)} files / {sum(f.num_slices for f in group)} slices"
        for name, group in (("train", train), ("validation", val), ("test", test))
        if group
    )
    return train, val, test, f"fastMRI single-coil files in {root}: {counts}; {held}"


class FastMRIDataset(SliceDataset):
    """(zero-filled, target) slice pairs of fastMRI single-coil files (see the module docstring).

    Args:
        files: the checked files of this split.
        config: the run's config (masks, complex input, size, augmentation).
        training: fresh masks and augmentation; else the per-file seeded mask.
    """

    def __init__(self, files: list[FastMRIFile], config: TrainConfig, training: bool):
        super().__init__(
            [f.volume_id for f in files],
            build_index([range(f.num_slices) for f in files]),
            training,
            config.data.split_seed,
        )
        data = config.data
        self.files = files
        self.masks = MaskDrawer(data)
        self.complex_input = bool(data.complex_input)
        self.size = tuple(int(s) for s in data.size)
        self.augment = data.augment
        self.kspace_grid = is_data_consistent(config.model.name)
        if self.kspace_grid and len({(f.kspace_shape, f.target_shape) for f in files}) > 1:
            shapes = sorted({(f.kspace_shape, f.target_shape) for f in files})
            raise UsageError(
                f"{config.source}: a data-consistency model trains on whole k-space grids, so every file must share "
                f"one k-space and target shape; found (k-space, target) shapes {shapes}"
            )
        contract = input_contract(config)
        self.normalization = normalization_of(contract)
        settings = json.dumps(
            [self.masks.kind, self.masks.pairs, self.complex_input, contract["normalization"]], sort_keys=True
        )
        self.fits = FitMemo(VolumeCache(cache_folder(config)), f"fastmri|{settings}")
        self._keys = [VolumeCache.file_key(f.path) for f in files]
        self._handles: ProcessLocal = ProcessLocal(capacity=16)

    def _open(self, position: int) -> Any:
        """The file at ``position``, opened read-only once per process (an ``h5py.File``)."""
        import h5py

        path = self.files[position].path
        return self._handles.get(path, lambda: h5py.File(path, "r"))

    def _volume_fit(self, position: int, pair: int | None) -> Fit:
        """Normalisation of the file's whole zero-filled volume (evaluation mask, or one pair's seeded mask)."""
        entry = self.files[position]
        handle = self._open(position)
        num_cols = entry.kspace_shape[1]
        if pair is None:
            mask = self.masks.evaluation(num_cols, entry.volume_id)
        else:
            mask = self.masks.seeded_pair(num_cols, pair, entry.volume_id)
        volume = np.stack(
            [
                zero_filled_input(np.asarray(handle["kspace"][s]), mask, entry.target_shape, self.complex_input)
                for s in range(entry.num_slices)
            ]
        )
        return self.normalization.fit(volume, self.complex_input)

    def fitted(self, position: int, pair: int | None) -> Fit:
        """The remembered normalisation of a file (see :meth:`_volume_fit`)."""
        role = "evaluation" if pair is None else f"pair-{pair}"
        volume_id = self.files[position].volume_id
        return self.fits.get(volume_id, self._keys[position], role, lambda: self._volume_fit(position, pair))

    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        entry = self.files[volume]
        handle = self._open(volume)
        kspace = np.asarray(handle["kspace"][slice_index])
        target = np.asarray(handle[entry.target_key][slice_index], dtype=np.float32)
        if self.training:
            transform = Geometric.draw(self.augment, rng)
            if transform is not None:
                kspace = fft2c(transform.apply(ifft2c(kspace))).astype(np.complex64)
                target = np.maximum(transform.apply(target), 0.0)
            mask, pair = self.masks.training(entry.kspace_shape[1], rng)
            fitted = self.fitted(volume, pair)
        else:
            mask = self.masks.evaluation(entry.kspace_shape[1], entry.volume_id)
            fitted = self.fitted(volume, None)
        crop = None if self.kspace_grid else entry.target_shape
        source = zero_filled_input(kspace, mask, crop, self.complex_input)
        offsets, scales = self.normalization.offsets_and_scales(source[None], fitted, self.complex_input)
        image = self.normalization.apply(source[None], offsets, scales)[0]
        target = self.normalization.apply(target[None], offsets, scales)[0]
        if self.kspace_grid:
            return SliceSample(
                image=torch.from_numpy(np.ascontiguousarray(as_channels(image))),
                target=torch.from_numpy(np.ascontiguousarray(target[None], dtype=np.float32)),
                volume=entry.volume_id,
                slice_index=int(slice_index),
                scale=float(scales[0]),
                offset=float(offsets[0]),
                mask=torch.from_numpy(mask.astype(np.float32)),
            )
        augment = self.augment if self.training else None
        return image_sample(
            image,
            target,
            float(offsets[0]),
            float(scales[0]),
            self.size,
            augment,
            rng,
            entry.volume_id,
            slice_index,
            jitter_bias=False,
        )


def build_fastmri(config: TrainConfig) -> DataSplits:
    """Datasets of a ``fastmri`` reconstruction run (see the module docstring).

    Raises:
        InputNotFoundError / InputError: missing folders or bad files, naming them.
        UsageError: more held-out files than found.
    """
    train, val, test, text = fastmri_folders(config)
    data = config.data
    in_channels, out_channels = channels(config)
    masks = (
        f"{data.mask_kind} column masks (accelerations {list(data.accelerations)}, centre fractions "
        f"{list(data.center_fractions)}; fresh per training sample, per-file seeded for validation), "
        f"{'complex' if data.complex_input else 'magnitude'} zero-filled input cropped to the target size"
    )
    return DataSplits(
        train=FastMRIDataset(train, config, training=True),
        val=FastMRIDataset(val, config, training=False),
        test=FastMRIDataset(test, config, training=False) if test else None,
        in_channels=in_channels,
        out_channels=out_channels,
        input_contract=input_contract(config),
        output_contract=output_contract(config),
        description=f"{text}; {masks}; training windows of {list(data.size)} pixels",
        licences=(LICENCE,),
    )
