"""MR reconstruction: undersampled k-space from fastMRI single-coil files or simulated from MR volumes.

Masks (:class:`MaskDrawer`) come from :class:`condswin.mri.masks.MaskSampler` over the config's (centre
fraction, acceleration) pairs, with fastMRI semantics. Training draws a fresh mask per sample (the pair first,
uniformly, then the mask from the sample's generator); evaluation uses the per-file seeded mask of fastMRI
(:func:`~condswin.mri.masks.fastmri_seed` of the file name, the pair drawn by the seeded sampler as fastMRI
draws it), so every slice of a volume shares one mask and a validation score is reproducible. The input is the
zero-filled image of the masked k-space (:func:`zero_filled_input`; magnitude, or complex with
``data.complex_input``).

Normalisation: the card's percentiles of the zero-filled volume, as inference computes them. Evaluation
volumes get the exact value (the whole zero-filled volume, each slice made exactly as its sample is); a
training sample gets that of its volume zero-filled with the per-file mask of the sample's own (centre
fraction, acceleration) pair — fresh masks, phases and noise move the percentiles of a zero-filled volume
very little, the acceleration does. Both are computed once (:class:`~.store.FitMemo`). Training augmentation
transforms the fully sampled image and the target together before the mask is applied, so masks and noise keep
their real structure.

``fastmri`` (:func:`build_fastmri`): folders ``<root>/singlecoil_train`` and ``<root>/singlecoil_val`` when
present; otherwise ``root`` holds the training files and validation comes from ``data.val_root`` or from
whole files of ``root`` held out by the seeded split. Every file's schema is checked when the datasets are
built, without reading its arrays (:mod:`condswin.mri.fastmri` describes it): a complex (slices, H, W)
``kspace`` (multi-coil files are refused), a ``reconstruction_esc`` (else ``reconstruction_rss``) target of the
same slice count that fits inside the k-space image, and no ``mask`` (test and challenge files are already
undersampled and have no target to learn from). Samples: ``kspace[s]`` and ``target[s]`` read with h5py
(files opened per process, never pickled), the mask applied, the zero-filled image centre-cropped to the
target's size (fastMRI's 320×320).

``mr_volumes`` (:func:`build_mr_reconstruction`, volumes from :mod:`.mr_volumes`): k-space simulated per slice
(:func:`simulate_slice`): the magnitude slice gets a smooth random phase
(:func:`condswin.mri.kspace.simulate_singlecoil_kspace`: a smooth field of up to ±π/2 and a linear ramp) and is
Fourier transformed; complex Gaussian noise of per-channel standard deviation ``data.kspace_noise`` × the
volume's maximum is added to the k-space (the FFT is orthonormal, so that is also the noise level of the
image; with ``data.kspace_noise_range`` each training sample draws its level from that range, and validation
keeps ``data.kspace_noise``); a magnitude-only, noise-free simulation would teach the network things real k-space never shows. The
target is the magnitude slice.

Data-consistency models (:mod:`condswin.models.data_consistency`) need the input on its k-space grid (not
cropped, not windowed: DC needs its Fourier relation to the measured columns), and each sample carries its
column mask. fastMRI: the zero-filled image on the whole k-space grid and the whole target; the module crops
the output to the target, so every file of such a run must share one k-space and target shape (a batch is one
tensor), and the intensity jitter is not applied. MR volumes: the magnitude slice is cut to the ``data.size``
window (random in training, centred in evaluation) *before* the k-space is simulated, so the window is the
whole field of view of its k-space.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.models.data_consistency import is_data_consistent
from condswin.mri.fastmri import TARGET_KEYS, check_schema
from condswin.mri.fft import fft2c, ifft2c
from condswin.mri.kspace import apply_mask, center_crop, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSampler, fastmri_seed
from condswin.training.config import DataSection, TrainConfig
from condswin.training.data.contract import input_contract, normalization_of
from condswin.training.data.mr_volumes import MRVolume, MRVolumeReader, mr_splits
from condswin.training.data.prepare import Geometric, as_channels, crop_or_pad, crop_window, image_sample
from condswin.training.data.samples import (
    DataSplits,
    SliceDataset,
    SliceSample,
    build_index,
    cache_folder,
    data_splits,
    evaluation_rng,
    hold_out,
)
from condswin.training.data.store import Fit, FitMemo, ProcessLocal, VolumeCache

__all__ = [
    "FASTMRI_LICENCE",
    "MaskDrawer",
    "zero_filled_input",
    "simulate_slice",
    "MRReconstructionDataset",
    "build_mr_reconstruction",
    "FastMRIFile",
    "FastMRIDataset",
    "build_fastmri",
    "check_fastmri_file",
    "fastmri_folders",
]

FASTMRI_LICENCE = "fastMRI: NYU fastMRI dataset sharing agreement (research use)"


class MaskDrawer:
    """Column masks for one run.

    Args:
        data: the data section (``mask_kind``, ``center_fractions``, ``accelerations``).
    """

    def __init__(self, data: DataSection):
        self.kind = data.mask_kind
        self.pairs = tuple(zip(data.center_fractions, data.accelerations, strict=True))
        self.sampler = MaskSampler(self.kind, data.center_fractions, data.accelerations)
        self._per_pair = [MaskSampler(self.kind, [cf], [acc]) for cf, acc in self.pairs]

    def training(self, num_cols: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """A fresh mask and the index of its (centre fraction, acceleration) pair."""
        pair = int(rng.integers(len(self.pairs)))
        state = np.random.RandomState(int(rng.integers(0, 2**32)))
        return self._per_pair[pair](num_cols, rng=state)[0], pair

    def evaluation(self, num_cols: int, volume_id: str) -> np.ndarray:
        """The per-file seeded mask (fastMRI's validation mask) of a volume."""
        return self.sampler(num_cols, seed=fastmri_seed(volume_id))[0]

    def seeded_pair(self, num_cols: int, pair: int, volume_id: str) -> np.ndarray:
        """A per-file seeded mask of one given pair (for the normalisation estimate of training samples)."""
        return self._per_pair[pair](num_cols, seed=fastmri_seed(volume_id))[0]


def zero_filled_input(
    kspace: np.ndarray, mask: np.ndarray, crop: Sequence[int] | None, complex_input: bool
) -> np.ndarray:
    """Zero-filled image of masked k-space, centre-cropped, as the network input (before normalisation).

    Args:
        kspace: complex (..., H, W).
        mask: column mask (W,).
        crop: (h, w) centre crop (clipped to the image), or None.
        complex_input: keep the complex image; else its magnitude.

    Returns:
        complex64 or float32 (..., h, w).
    """
    image = ifft2c(apply_mask(kspace, mask))
    if crop is not None:
        image = center_crop(image, (min(int(crop[0]), image.shape[-2]), min(int(crop[1]), image.shape[-1])))
    return image.astype(np.complex64) if complex_input else np.abs(image).astype(np.float32)


def simulate_slice(magnitude: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Single-coil k-space of a magnitude slice: smooth random phase, FFT, complex Gaussian noise.

    Args:
        magnitude: (h, w) non-negative slice.
        noise: per-channel standard deviation of the k-space noise, in image units.
        rng: the generator (the phase seed is drawn first, then the noise).

    Returns:
        complex64 (h, w) k-space.
    """
    kspace = simulate_singlecoil_kspace(magnitude, seed=int(rng.integers(0, 2**63)))
    if noise > 0:
        kspace = kspace + (noise * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape)))
    return kspace.astype(np.complex64)


class MRReconstructionDataset(SliceDataset):
    """(zero-filled, magnitude) slice pairs simulated from MR volumes (see the module docstring).

    Args:
        volumes: the checked volumes of this split.
        config: the run's config (masks, k-space noise, complex input, size, augmentation).
        training: fresh phase, noise and mask per sample and augmentation; else fixed per slice and volume.
    """

    def __init__(self, volumes: Sequence[MRVolume], config: TrainConfig, training: bool):
        super().__init__(
            [v.volume_id for v in volumes], build_index([v.slices for v in volumes]), training, config.data.split_seed
        )
        data = config.data
        self.volumes = list(volumes)
        self.masks = MaskDrawer(data)
        self.kspace_noise = float(data.kspace_noise)
        self.kspace_noise_range = data.kspace_noise_range  # floats: the config reader converts them
        self.complex_input = bool(data.complex_input)
        self.size = (int(data.size[0]), int(data.size[1]))
        self.augment = data.augment
        self.kspace_grid = is_data_consistent(config.model.name)
        contract = input_contract(config)
        self.normalization = normalization_of(contract)
        self.reader = MRVolumeReader()
        settings = json.dumps(
            [self.masks.kind, self.masks.pairs, self.kspace_noise, self.complex_input, contract["normalization"]],
            sort_keys=True,
        )
        self.fits = FitMemo(VolumeCache(cache_folder(config)), f"mr-recon|{self.seed}|{settings}")
        self._keys = [VolumeCache.file_key(v.path) for v in volumes]

    def _volume_fit(self, position: int, pair: int | None) -> Fit:
        """Normalisation of a whole zero-filled volume: the evaluation one (``pair`` None) or one pair's."""
        entry = self.volumes[position]
        magnitude = self.reader.volume(entry)
        noise = self.kspace_noise * entry.maximum
        num_cols = magnitude.shape[-1]
        stream: tuple[()] | tuple[str, int]
        if pair is None:
            mask, stream = self.masks.evaluation(num_cols, entry.volume_id), ()
        else:
            mask, stream = self.masks.seeded_pair(num_cols, pair, entry.volume_id), ("pair", pair)
        zero_filled = np.stack(
            [
                zero_filled_input(
                    simulate_slice(magnitude[s], noise, evaluation_rng(self.seed, *stream, entry.volume_id, s)),
                    mask,
                    None,
                    self.complex_input,
                )
                for s in range(magnitude.shape[0])
            ]
        )
        return self.normalization.fit(zero_filled, self.complex_input)

    def fitted(self, position: int, pair: int | None) -> Fit:
        """The remembered normalisation of a volume (see :meth:`_volume_fit`)."""
        entry = self.volumes[position]
        role = "evaluation" if pair is None else f"pair-{pair}"
        return self.fits.get(entry.volume_id, self._keys[position], role, lambda: self._volume_fit(position, pair))

    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        entry = self.volumes[volume]
        magnitude = self.reader.slice(entry, slice_index)
        if self.training:
            transform = Geometric.draw(self.augment, rng)
            if transform is not None:
                magnitude = np.maximum(transform.apply(magnitude), 0.0)
        if self.kspace_grid:
            corner = crop_window(magnitude.shape, self.size, rng if self.training else None)
            magnitude = crop_or_pad(magnitude, self.size, corner)
        level = self.kspace_noise
        if self.training and self.kspace_noise_range is not None:
            level = float(rng.uniform(*self.kspace_noise_range))
        kspace = simulate_slice(magnitude, level * entry.maximum, rng)
        if self.training:
            mask, pair = self.masks.training(kspace.shape[-1], rng)
            fitted = self.fitted(volume, pair)
        else:
            mask = self.masks.evaluation(kspace.shape[-1], entry.volume_id)
            fitted = self.fitted(volume, None)
        source = zero_filled_input(kspace, mask, None, self.complex_input)
        offsets, scales = self.normalization.offsets_and_scales(source[None], fitted, self.complex_input)
        image = self.normalization.apply(source[None], offsets, scales)[0]
        target = self.normalization.apply(magnitude[None], offsets, scales)[0]
        augment = self.augment if self.training else None
        sample = image_sample(
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
        # the window was cut before the simulation, so image_sample's window is the whole slice and the mask fits
        return sample._replace(mask=torch.from_numpy(mask.astype(np.float32))) if self.kspace_grid else sample


def build_mr_reconstruction(config: TrainConfig) -> DataSplits:
    """Datasets of a reconstruction run on ``mr_volumes`` (see the module docstring).

    Raises:
        InputNotFoundError / InputError: missing folders or bad volumes, naming the file.
        UsageError: more held-out volumes than found.
    """
    train, val, test, text = mr_splits(config)
    data = config.data
    noise_text = f"{data.kspace_noise:g} x the volume maximum"
    if data.kspace_noise_range is not None:
        low, high = data.kspace_noise_range
        noise_text = (
            f"{low:g}-{high:g} x the volume maximum (drawn per training sample; {data.kspace_noise:g} in validation)"
        )
    simulation = (
        "single-coil k-space simulated from each magnitude slice (condswin.mri.kspace.simulate_singlecoil_kspace: "
        f"smooth random phase up to +-pi/2 with a linear ramp) plus complex Gaussian k-space noise of "
        f"{noise_text}, undersampled by {data.mask_kind} column masks "
        f"(accelerations {list(data.accelerations)}, centre fractions {list(data.center_fractions)}; fresh per "
        f"training sample, per-file seeded for validation); {'complex' if data.complex_input else 'magnitude'} "
        "zero-filled input, magnitude target"
    )
    return data_splits(
        config,
        lambda volumes, training: MRReconstructionDataset(volumes, config, training),
        (train, val, test),
        f"{text}; {simulation}; training windows of {list(data.size)} pixels, native grid at inference",
        (f"the licences of the MR volumes in {data.root}",),
    )


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
    assert data.root is not None  # every kind but phantom has one (checked with the config)
    root = Path(data.root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such fastMRI folder (data.root of {config.source})")
    if (root / "singlecoil_train").is_dir():
        files = _h5_files(root / "singlecoil_train", config.source)
        val_folder: Path | None = Path(data.val_root) if data.val_root else root / "singlecoil_val"
    else:
        files = _h5_files(root, config.source)
        val_folder = Path(data.val_root) if data.val_root else None
    val_files = _h5_files(val_folder, config.source) if val_folder is not None else None
    train, val, test = hold_out(files, val_files, config)
    if val_folder is not None:
        held = f"validation files from {val_folder}"
    else:
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

    def __init__(self, files: Sequence[FastMRIFile], config: TrainConfig, training: bool):
        super().__init__(
            [f.volume_id for f in files],
            build_index([range(f.num_slices) for f in files]),
            training,
            config.data.split_seed,
        )
        data = config.data
        self.files = list(files)
        self.masks = MaskDrawer(data)
        self.complex_input = bool(data.complex_input)
        self.size = (int(data.size[0]), int(data.size[1]))
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
    masks = (
        f"{data.mask_kind} column masks (accelerations {list(data.accelerations)}, centre fractions "
        f"{list(data.center_fractions)}; fresh per training sample, per-file seeded for validation), "
        f"{'complex' if data.complex_input else 'magnitude'} zero-filled input cropped to the target size"
    )
    return data_splits(
        config,
        lambda files, training: FastMRIDataset(files, config, training),
        (train, val, test),
        f"{text}; {masks}; training windows of {list(data.size)} pixels",
        (FASTMRI_LICENCE,),
    )
