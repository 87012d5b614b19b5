"""What the pipeline hands to training, and the dataset machinery every data kind shares.

* :class:`SliceSample` — one 2-D example; :class:`DataSplits` — the train / validation / test datasets of a run
  and what the model card says about them, assembled by :func:`data_splits`.
* :class:`SliceDataset` — the base of every dataset: an index of (volume, slice) built once with
  :func:`build_index` (a few bytes per slice, whatever the size of the volumes); samples are made on access
  from lazily read volumes.
* Splits by whole volume (:func:`split_volumes`, :func:`phantom_seeds`): slices of one volume are strongly
  correlated, so a random split of slices would leak the validation volumes into training.
* Randomness: training draws its numpy seed from torch's generator (:func:`training_rng`). DataLoader seeds
  torch in each worker from a base seed that the main process draws anew for every epoch, so
  ``lightning.seed_everything`` makes a run repeatable while every sample of every epoch still gets new
  masks, noise and augmentation. Evaluation generators (:func:`evaluation_rng`) depend only on the (volume,
  slice) key, so a validation score does not depend on workers, order or epoch.

A :class:`SliceSample` is a ``NamedTuple`` so that ``torch.utils.data.default_collate`` batches it field by
field (tensors stacked, strings and numbers gathered into lists / tensors) without a custom collate function.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from condswin.errors import UsageError
from condswin.seeding import text_seed
from condswin.training.config import TrainConfig
from condswin.training.data.contract import channels, input_contract, output_contract

__all__ = [
    "SliceSample",
    "DataSplits",
    "data_splits",
    "SliceDataset",
    "build_index",
    "cache_folder",
    "split_volumes",
    "hold_out",
    "phantom_seeds",
    "training_rng",
    "evaluation_rng",
]

T = TypeVar("T")

# Phantom seeds of split_seed s are s * _SEED_BLOCK + 0, 1, 2, ...: train first, then validation, then test,
# so no seed is in two splits, and different split seeds give different volumes.
_SEED_BLOCK = 1_000_000


class SliceSample(NamedTuple):
    """One 2-D training or validation example.

    Attributes:
        image: (C, H, W) float32 network input, normalised exactly as the model card says (C = 2 for complex
            reconstruction input: real and imaginary parts).
        target: segmentation: (H, W) int64 labels 0/1/2; image tasks: (1, H, W) float32 on the image's scale.
        volume: the volume's id (file name, or ``phantom-<seed>``); validation metrics are per volume.
        slice_index: the slice's index in its volume (in the model's slice layout).
        scale: normalised → original units is ``x * scale + offset`` (image tasks; 1.0 for CT).
        offset: see ``scale`` (0.0 for CT).
        mask: reconstruction: the (W,) float32 sampled-column mask of the input's k-space (1 = measured), which
            a data-consistency model needs; other tasks: empty (a default tensor, so batches still collate).
    """

    image: torch.Tensor
    target: torch.Tensor
    volume: str
    slice_index: int
    scale: float
    offset: float
    mask: torch.Tensor = torch.zeros(0)


@dataclass(frozen=True)
class DataSplits:
    """The datasets of a run and what the model card must say about them.

    Attributes:
        train: dataset of :class:`SliceSample`; fresh randomness per sample (mask, noise, augmentation).
        val: deterministic dataset (per-volume seeds), never augmented.
        test: held-out dataset, or None.
        in_channels: 1, or 2 for complex reconstruction input.
        out_channels: 3 for LiTS segmentation, 1 for image tasks.
        input_contract: the card's ``input`` object (modality, axis, normalization, pixel_size_mm, size,
            representation).
        output_contract: the card's ``output`` object (labels and postprocess for segmentation; representation).
        description: what the model was trained on, for the card (volumes, counts, splits, simulation).
        licences: licences of the training data, e.g. ``"LiTS-derived liver shapes: CC BY-NC-SA 4.0"``.
    """

    train: Dataset
    val: Dataset
    test: Dataset | None
    in_channels: int
    out_channels: int
    input_contract: dict[str, Any] = field(default_factory=dict)
    output_contract: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    licences: tuple[str, ...] = ()


def data_splits(
    config: TrainConfig,
    dataset: Callable[[Sequence[T], bool], Dataset],
    splits: tuple[Sequence[T], Sequence[T], Sequence[T]],
    description: str,
    licences: tuple[str, ...],
) -> DataSplits:
    """The :class:`DataSplits` of a run: one dataset per split, the channels and the card's contract.

    Args:
        config: the run's config (channels and the card's ``input`` / ``output`` objects come from it).
        dataset: makes the dataset of one split: ``dataset(items, training)``.
        splits: the items (volumes, files, phantoms) of train, validation and test; no test dataset when the
            test split is empty.
        description: what the model was trained on, for the card.
        licences: the training data's licences.
    """
    train, val, test = splits
    in_channels, out_channels = channels(config)
    return DataSplits(
        train=dataset(train, True),
        val=dataset(val, False),
        test=dataset(test, False) if test else None,
        in_channels=in_channels,
        out_channels=out_channels,
        input_contract=input_contract(config),
        output_contract=output_contract(config),
        description=description,
        licences=licences,
    )


def training_rng() -> np.random.Generator:
    """A generator seeded from torch's current generator (fresh per call, repeatable under a global seed)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


def evaluation_rng(*keys: int | str) -> np.random.Generator:
    """A generator that depends only on ``keys`` (e.g. the split seed, the volume id and the slice index).

    Args:
        *keys: integers (non-negative) or strings (hashed with :func:`condswin.seeding.text_seed`).

    Returns:
        ``numpy.random.default_rng(SeedSequence(keys))``.
    """
    entropy = [text_seed(k) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def split_volumes(
    items: Sequence[T], val: int, test: int, seed: int, source: str = "data"
) -> tuple[list[T], list[T], list[T]]:
    """Split whole volumes into train / validation / test by a seeded permutation.

    Args:
        items: the volumes (any objects), in a stable order (e.g. sorted by file name).
        val: how many go to validation (0 when a separate validation folder is used).
        test: how many go to test.
        seed: seed of the permutation (the same seed and items give the same split).
        source: what to name in an error message (the config file).

    Returns:
        ``(train, val, test)`` lists, each in the original order of ``items``.

    Raises:
        UsageError: negative counts, or too few volumes to leave at least one for training.
    """
    if val < 0 or test < 0:
        raise UsageError(f"{source}: data.val_volumes and data.test_volumes must be >= 0, got {val} and {test}")
    if val + test >= len(items):
        raise UsageError(
            f"{source}: data.val_volumes ({val}) + data.test_volumes ({test}) hold out every one of the "
            f"{len(items)} volumes found; at least one must be left for training"
        )
    order = np.random.default_rng(seed).permutation(len(items))
    test_pos = set(order[:test].tolist())
    val_pos = set(order[test : test + val].tolist())
    train = [item for i, item in enumerate(items) if i not in test_pos and i not in val_pos]
    return train, [items[i] for i in sorted(val_pos)], [items[i] for i in sorted(test_pos)]


def hold_out(
    items: Sequence[T], val_items: Sequence[T] | None, config: TrainConfig
) -> tuple[list[T], list[T], list[T]]:
    """Train / validation / test volumes of a run: validation from its own folder when it has one.

    Args:
        items: the volumes of ``data.root``, in a stable order.
        val_items: the volumes of ``data.val_root``, or None when the run has no validation folder; then
            ``data.val_volumes`` of ``items`` are held out by the seeded split.
        config: the run's config (``data.val_volumes``, ``data.test_volumes``, ``data.split_seed``).

    Raises:
        UsageError: no validation folder and ``data.val_volumes`` < 1, or too few volumes (see
            :func:`split_volumes`).
    """
    data = config.data
    if val_items is not None:
        train, _, test = split_volumes(items, 0, data.test_volumes, data.split_seed, config.source)
        return train, list(val_items), test
    if data.val_volumes < 1:
        raise UsageError(f"{config.source}: data.val_volumes must be >= 1 without data.val_root")
    return split_volumes(items, data.val_volumes, data.test_volumes, data.split_seed, config.source)


def phantom_seeds(split_seed: int, train: int, val: int, test: int) -> tuple[list[int], list[int], list[int]]:
    """Disjoint phantom seeds for the three splits.

    Args:
        split_seed: the run's ``data.split_seed`` (non-negative).
        train / val / test: volumes per split.

    Returns:
        ``(train_seeds, val_seeds, test_seeds)``.

    Raises:
        UsageError: a negative seed or count, or more volumes than one seed block holds.
    """
    if split_seed < 0 or min(train, val, test) < 0:
        raise UsageError(f"data.split_seed and the volume counts must be >= 0, got {split_seed}, {train}/{val}/{test}")
    if train + val + test > _SEED_BLOCK:
        raise UsageError(f"at most {_SEED_BLOCK} phantom volumes per run, got {train + val + test}")
    base = split_seed * _SEED_BLOCK
    seeds = list(range(base, base + train + val + test))
    return seeds[:train], seeds[train : train + val], seeds[train + val :]


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

    A training sample gets a fresh generator (:func:`training_rng`), an evaluation sample one fixed by its
    volume and slice (:func:`evaluation_rng`).

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
