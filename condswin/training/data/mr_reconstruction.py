"""MR reconstruction from folders of magnitude MR volumes: k-space simulated per slice, then undersampled.

Simulation (:func:`simulate_slice`): the magnitude slice gets a smooth random phase
(:func:`condswin.mri.kspace.simulate_singlecoil_kspace`: a smooth field of up to ±π/2 and a linear ramp)
and is Fourier transformed; complex Gaussian noise of per-channel standard deviation ``data.kspace_noise`` ×
the volume's maximum is added to the k-space (the FFT is orthonormal, so that is also the noise level of the
image); a magnitude-only, noise-free simulation would teach the network things real k-space never shows. The
column mask (fresh per training sample, per-file seeded for evaluation; :mod:`.kspace_samples`) is applied
and the zero-filled image (magnitude, or complex with ``data.complex_input``) is the input; the target is the
magnitude slice.

Normalisation: the card's percentiles of the zero-filled volume, as inference computes them. Evaluation
volumes get the exact value (the whole zero-filled volume, each slice simulated exactly as its sample is);
a training sample gets that of its volume zero-filled with the per-file mask of the sample's own
(centre fraction, acceleration) pair — fresh masks, phases and noise move the percentiles of a zero-filled
volume very little, the acceleration does. Both are computed once (:mod:`.fit_memo`).
Training slices are augmented before the simulation, so masks and noise keep their real structure.

Data-consistency models (:mod:`condswin.models.data_consistency`) need the input on its k-space grid: their
magnitude slice is cut to the ``data.size`` window (random in training, centred in evaluation) *before* the
k-space is simulated, so the window is the whole field of view of its k-space, and the sample carries the
column mask.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from condswin.models.data_consistency import is_data_consistent
from condswin.mri.kspace import simulate_singlecoil_kspace
from condswin.training.config import TrainConfig
from condswin.training.data.augment import Geometric
from condswin.training.data.contract import channels, input_contract, normalization_of, output_contract
from condswin.training.data.fit_memo import Fit, FitMemo
from condswin.training.data.grid import crop_or_pad, crop_window
from condswin.training.data.image_samples import image_sample
from condswin.training.data.kspace_samples import MaskDrawer, zero_filled_input
from condswin.training.data.mr_volumes import MRVolume, MRVolumeReader, mr_splits
from condswin.training.data.randomness import evaluation_rng
from condswin.training.data.samples import DataSplits, SliceSample
from condswin.training.data.slices import SliceDataset, build_index, cache_folder
from condswin.training.data.store import VolumeCache

__all__ = ["MRReconstructionDataset", "build_mr_reconstruction", "simulate_slice"]


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

    def __init__(self, volumes: list[MRVolume], config: TrainConfig, training: bool):
        super().__init__(
            [v.volume_id for v in volumes], build_index([v.slices for v in volumes]), training, config.data.split_seed
        )
        data = config.data
        self.volumes = volumes
        self.masks = MaskDrawer(data)
        self.kspace_noise = float(data.kspace_noise)
        self.complex_input = bool(data.complex_input)
        self.size = tuple(int(s) for s in data.size)
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
        kspace = simulate_slice(magnitude, self.kspace_noise * entry.maximum, rng)
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
    in_channels, out_channels = channels(config)
    simulation = (
        "single-coil k-space simulated from each magnitude slice (condswin.mri.kspace.simulate_singlecoil_kspace: "
        f"smooth random phase up to +-pi/2 with a linear ramp) plus complex Gaussian k-space noise of "
        f"{data.kspace_noise:g} x the volume maximum, undersampled by {data.mask_kind} column masks "
        f"(accelerations {list(data.accelerations)}, centre fractions {list(data.center_fractions)}; fresh per "
        f"training sample, per-file seeded for validation); {'complex' if data.complex_input else 'magnitude'} "
        "zero-filled input, magnitude target"
    )
    return DataSplits(
        train=MRReconstructionDataset(train, config, training=True),
        val=MRReconstructionDataset(val, config, training=False),
        test=MRReconstructionDataset(test, config, training=False) if test else None,
        in_channels=in_channels,
        out_channels=out_channels,
        input_contract=input_contract(config),
        output_contract=output_contract(config),
        description=f"{text}; {simulation}; training windows of {list(data.size)} pixels, native grid at inference",
        licences=(f"the licences of the MR volumes in {data.root}",),
    )
