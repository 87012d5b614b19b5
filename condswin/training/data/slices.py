"""The slice index of a split and the dataset base class every data kind builds on.

The index is built once, when the datasets are built: an (n, 2) integer array of (volume position, slice
index) — a few bytes per slice, whatever the size of the volumes. Samples are made on access from lazily
read volumes; a training sample gets a fresh generator (:func:`.randomness.training_rng`), an evaluation
sample one fixed by its volume and slice (:func:`.randomness.evaluation_rng`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from condswin.training.config import TrainConfig
from condswin.training.data.randomness import evaluation_rng, training_rng
from condswin.training.data.samples import SliceSample

__all__ = ["SliceDataset", "build_index", "cache_folder"]


def build_index(slices_per_volume: Sequence[Sequence[int]]) -> np.ndarray:
    """(n, 2) int64 array of (volume position, slice index) from each volume's list of slices."""
    rows = [(v, int(s)) for v, slices in enumerate(slices_per_volume) for s in slices]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def cache_folder(config: TrainConfig) -> Path:
    """Where memory-mappable copies of compressed volumes go (``data.cache_dir``, else in the run folder)."""
    if config.data.cache_dir:
        return Path(config.data.cache_dir)
    return Path(config.trainer.output_dir) / "data_cache"


class SliceDataset(Dataset, abc.ABC):
    """A map-style dataset of :class:`SliceSample` over whole volumes.

    Args:
        volume_ids: id of each volume (file name or ``phantom-<seed>``), used in samples and evaluation seeds.
        index: (n, 2) array of (volume position, slice index) from :func:`build_index`.
        training: fresh randomness and augmentation per sample (else deterministic, never augmented).
        seed: mixed into evaluation generators (the run's ``data.split_seed``).
    """

    def __init__(self, volume_ids: Sequence[str], index: np.ndarray, training: bool, seed: int = 0):
        self.volume_ids = tuple(volume_ids)
        self.index = np.asarray(index, dtype=np.int64).reshape(-1, 2)
        self.training = bool(training)
        self.seed = int(seed)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, item: int) -> SliceSample:
        if not -len(self) <= item < len(self):
            raise IndexError(f"sample {item} out of range for {len(self)} samples")
        volume, slice_index = (int(v) for v in self.index[item])
        if self.training:
            rng = training_rng()
        else:
            rng = evaluation_rng(self.seed, self.volume_ids[volume], slice_index)
        return self.make_sample(volume, slice_index, rng)

    def slices_of(self, volume_id: str) -> list[int]:
        """Indices of the samples that belong to one volume (in index order)."""
        position = self.volume_ids.index(volume_id)
        return np.flatnonzero(self.index[:, 0] == position).tolist()

    @abc.abstractmethod
    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        """Build the sample of one slice.

        Args:
            volume: position of the volume in ``volume_ids``.
            slice_index: the slice's index in that volume (in the model's slice layout).
            rng: the sample's generator (fresh in training, fixed per slice in evaluation).

        Returns:
            The sample.
        """
