"""MR denoising from folders of clean(ish) MR volumes: Gaussian or Rician noise added per sample.

Noise follows :mod:`condswin.mri.noise`: σ relative to the volume's maximum, drawn per training sample from
``data.sigma_range``; each validation/test volume gets one σ from its own seed — or, with ``data.val_sigmas``,
is scored once per σ of that list as a case of its own (``volume@σ``), so that checkpoints are picked on every
noise level rather than on one draw — and each of its slices fixed noise from the slice's seed. The input is the noisy slice, the target the clean one, both normalised with the
normalisation of the *noisy* volume, as inference normalises what it is given:

* validation and test: exactly — the whole noisy volume is made once when the datasets are built and
  :meth:`Normalization.fit` is taken over it, so a validation slice is what inference would feed the model;
* training: the volume's percentiles estimated from its fixed 100 000-value subsample with the sample's
  noise added (noise changes per sample, so the noisy volume exists only in distribution; a subsample of that
  size puts the 0.5/99.5 percentiles within a fraction of a percent of the whole volume's).

Training slices are augmented geometrically before the noise is added (so the noise stays white) and get an
intensity jitter of input and target together.

A real magnitude image's air holds the scanner's own noise floor; a skull-stripped, brain-extracted or averaged
template volume's air is exactly zero, and a model trained and validated on such targets learns to put out
zero in air, where a real reference sits at its floor (measured on two held-out real volumes: 0.6 % of the
maximum). With ``data.scanner_floor: [low, high]`` every volume whose background is exactly zero (at least
:data:`ZERO_BACKGROUND` of its voxels are 0) gets a Rician floor of σ0 in that range added to its clean target
(:func:`with_scanner_floor`) before the noise of the sample; volumes with a floor of their own are left as they
are.

``data.noise: mixed`` trains one model for both noise models (σ unknown at inference, and so is whether the
data is Rician magnitude or Gaussian): each training sample draws Rician or Gaussian with equal chance;
validation and test volumes get Rician noise, the case the issue's targets are stated for (and the harder one:
its noise floor biases intensities).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from condswin.bundles.contract import Normalization
from condswin.mri.noise import add_gaussian, add_rician
from condswin.training.config import TrainConfig
from condswin.training.data.contract import input_contract, normalization_of
from condswin.training.data.mr_volumes import MRVolume, MRVolumeReader, mr_splits
from condswin.training.data.prepare import Geometric, image_sample
from condswin.training.data.samples import (
    DataSplits,
    SliceDataset,
    SliceSample,
    build_index,
    data_splits,
    evaluation_rng,
)

__all__ = ["MRDenoisingDataset", "build_mr_denoising", "add_noise", "volume_sigma", "with_scanner_floor"]

# A volume with at least this fraction of voxels exactly zero has a processed (floorless) background; the real
# volumes at hand have 1-6 %, the skull-stripped and template ones 67-78 %.
ZERO_BACKGROUND = 0.25


def add_noise(clean: np.ndarray, kind: str, sigma: float, maximum: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy copy of ``clean``: Gaussian or Rician with σ = ``sigma`` × the volume's ``maximum``."""
    noise = add_rician if kind == "rician" else add_gaussian
    return noise(clean, sigma, seed=rng, reference=maximum)


def with_scanner_floor(clean: np.ndarray, sigma0: float, maximum: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` as a magnitude image with a noise floor: Rician noise of σ0 × ``maximum`` (σ0 = 0: unchanged)."""
    if sigma0 <= 0:
        return clean
    return add_rician(clean, sigma0, seed=rng, reference=maximum)


def volume_sigma(sigma_range: tuple[float, float], seed: int, volume_id: str) -> float:
    """The fixed σ of an evaluation volume (drawn from ``sigma_range`` with the volume's own seed)."""
    return float(evaluation_rng(seed, "sigma", volume_id).uniform(*sigma_range))


class MRDenoisingDataset(SliceDataset):
    """(noisy, clean) slice pairs of MR volumes, normalised with the noisy volume's normalisation.

    Args:
        volumes: the checked volumes of this split.
        config: the run's config (noise, σ range, size, augmentation).
        training: fresh σ and noise per sample, augmentation, estimated normalisation; else fixed and exact.
    """

    def __init__(self, volumes: Sequence[MRVolume], config: TrainConfig, training: bool):
        volumes = list(volumes)
        self.fixed_sigmas: list[float] = []
        if not training:
            volumes, self.fixed_sigmas = _evaluation_cases(volumes, config)
        super().__init__(
            [v.volume_id for v in volumes], build_index([v.slices for v in volumes]), training, config.data.split_seed
        )
        self.volumes = volumes
        self.kind = config.data.noise
        self.sigma_range = (float(config.data.sigma_range[0]), float(config.data.sigma_range[1]))
        self.size = (int(config.data.size[0]), int(config.data.size[1]))
        self.augment = config.data.augment
        self.normalization: Normalization = normalization_of(input_contract(config))
        self.reader = MRVolumeReader()
        floor = config.data.scanner_floor
        self.floor_range = None if floor is None else (float(floor[0]), float(floor[1]))
        # the σ0 of evaluation slices, and of the subsample a training sample's normalisation is estimated from
        self.floor_middle = 0.0 if floor is None else (float(floor[0]) + float(floor[1])) / 2
        # which volumes get a floor: those whose background is exactly zero
        self.floorless = [
            self.floor_range is not None and float(np.mean(self.reader.subsample(v) == 0)) >= ZERO_BACKGROUND
            for v in volumes
        ]
        # Exact (offset, scale) of every evaluation volume's noisy version; None where decided per slice.
        self.fitted: list[tuple[float, float] | None] = []
        if not training:
            self.fitted = [self._exact_fit(position) for position in range(len(volumes))]

    def _sigma(self, position: int, rng: np.random.Generator) -> float:
        """A fresh σ per training sample; the volume's own fixed σ in evaluation (``rng`` untouched then)."""
        if self.training:
            return float(rng.uniform(*self.sigma_range))
        return self.fixed_sigmas[position]

    def _exact_fit(self, position: int) -> tuple[float, float] | None:
        """Normalisation of the whole noisy evaluation volume, each slice noised exactly as its sample is."""
        volume = self.volumes[position]
        clean = self.reader.volume(volume)
        sigma = self.fixed_sigmas[position]
        kind = self._kind(None)  # no draw in evaluation
        noisy = np.stack(
            [
                add_noise(
                    self._floored(position, clean[s], s, None),
                    kind,
                    sigma,
                    volume.maximum,
                    evaluation_rng(self.seed, volume.volume_id, s),
                )
                for s in range(clean.shape[0])
            ]
        )
        return self.normalization.fit(noisy)

    def _floored(
        self, position: int, clean: np.ndarray, slice_index: int, rng: np.random.Generator | None
    ) -> np.ndarray:
        """The clean target with the scanner floor where its volume lacks one: σ0 drawn with ``rng`` in training,
        the range's middle and the slice's own seed in evaluation (so :meth:`_exact_fit` sees the same)."""
        if not self.floorless[position]:
            return clean
        assert self.floor_range is not None
        volume = self.volumes[position]
        if self.training and rng is not None:
            return with_scanner_floor(clean, float(rng.uniform(*self.floor_range)), volume.maximum, rng)
        return with_scanner_floor(
            clean, self.floor_middle, volume.maximum, evaluation_rng(self.seed, "floor", volume.volume_id, slice_index)
        )

    def _kind(self, rng: np.random.Generator | None) -> str:
        """The noise model of one sample: the configured one, or for ``mixed`` a fair draw (Rician in evaluation)."""
        if self.kind != "mixed":
            return self.kind
        if not self.training or rng is None:
            return "rician"
        return "rician" if rng.random() < 0.5 else "gaussian"

    def _estimated_fit(
        self, position: int, kind: str, sigma: float, rng: np.random.Generator
    ) -> tuple[float, float] | None:
        volume = self.volumes[position]
        values = self.reader.subsample(volume)
        if self.floorless[position]:
            values = with_scanner_floor(values, self.floor_middle, volume.maximum, rng)
        return self.normalization.fit(add_noise(values, kind, sigma, volume.maximum, rng))

    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        entry = self.volumes[volume]
        clean = self.reader.slice(entry, slice_index)
        sigma = self._sigma(volume, rng)
        if self.training:
            transform = Geometric.draw(self.augment, rng)
            if transform is not None:
                clean = transform.apply(clean)
        clean = self._floored(volume, clean, slice_index, rng)
        kind = self._kind(rng)
        noisy = add_noise(clean, kind, sigma, entry.maximum, rng)
        fitted = self._estimated_fit(volume, kind, sigma, rng) if self.training else self.fitted[volume]
        offsets, scales = self.normalization.offsets_and_scales(noisy[None], fitted)
        image = self.normalization.apply(noisy[None], offsets, scales)[0]
        target = self.normalization.apply(clean[None], offsets, scales)[0]
        augment = self.augment if self.training else None
        return image_sample(
            image, target, float(offsets[0]), float(scales[0]), self.size, augment, rng, entry.volume_id, slice_index
        )


def _evaluation_cases(volumes: list[MRVolume], config: TrainConfig) -> tuple[list[MRVolume], list[float]]:
    """The evaluation cases and their fixed σ: each volume once per ``data.val_sigmas`` value (``id@σ``), or
    once with the σ drawn by its own seed."""
    sigmas = tuple(float(s) for s in config.data.val_sigmas or ())
    if not sigmas:
        drawn = [volume_sigma(config.data.sigma_range, config.data.split_seed, v.volume_id) for v in volumes]
        return list(volumes), drawn
    cases = [dataclasses.replace(v, volume_id=f"{v.volume_id}@{s:g}") for v in volumes for s in sigmas]
    return cases, [s for _ in volumes for s in sigmas]


def _shared_files(train: list[MRVolume], val: list[MRVolume]) -> list[str]:
    """Ids of validation volumes that are the same file as a training volume (symlinks resolved)."""
    trained = {os.path.realpath(v.path) for v in train}
    return [v.volume_id for v in val if os.path.realpath(v.path) in trained]


def build_mr_denoising(config: TrainConfig) -> DataSplits:
    """Datasets of a denoising run on ``mr_volumes`` (see the module docstring).

    Raises:
        InputNotFoundError / InputError: missing folders or bad volumes, naming the file.
        UsageError: more held-out volumes than found.
    """
    train, val, test, text = mr_splits(config)
    data = config.data
    kinds = "Rician or Gaussian (an even draw per training sample; Rician in validation/test)"
    noise = (
        f"{kinds if data.noise == 'mixed' else data.noise} noise (condswin.mri.noise) with sigma drawn from {list(data.sigma_range)} of each volume's "
        "maximum per training sample ("
        + (
            f"validation/test at each sigma of {list(data.val_sigmas)}"
            if data.val_sigmas
            else "one sigma per validation/test volume"
        )
        + "); input and target normalised with "
        "the noisy volume's percentiles"
    )
    if data.scanner_floor is not None:
        noise += (
            f"; clean targets of volumes with an exactly zero background given a Rician noise floor of sigma0 in "
            f"{list(data.scanner_floor)} of the maximum (the middle of the range in validation/test)"
        )
    overlap = _shared_files(train, val)
    if overlap:  # the card must not pass a training volume off as held-out validation
        noise += (
            f"; validation volume(s) {', '.join(overlap)} are also training volumes (checkpoints picked on seen data)"
        )
    return data_splits(
        config,
        lambda volumes, training: MRDenoisingDataset(volumes, config, training),
        (train, val, test),
        f"{text}; {noise}; training windows of {list(data.size)} pixels, native grid at inference",
        (f"the licences of the MR volumes in {data.root}",),
    )
