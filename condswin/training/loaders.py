"""DataLoaders of a run: shuffled, rank-sharded training slices; whole, contiguous volumes for evaluation.

Training uses a :class:`torch.utils.data.DistributedSampler` even in a single process: its permutation
depends only on (seed, epoch), and rank r takes every W-th index of it, so one process with batch B and W
processes with batch B/W see the same global batches; and every sample's randomness is seeded from (seed,
epoch, index) (:class:`SeededSamples`) — together, what makes a multi-GPU run reproduce a single-GPU one
and a resumed run the uninterrupted one, whatever the number of workers. Validation and test use :class:`VolumeSampler` (fastMRI's ``VolumeSampler`` idea): every
rank gets whole volumes, each volume's slices in a row, as per-volume scoring needs
(:mod:`condswin.training.modules.volumes`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from condswin.errors import UsageError
from condswin.training.config import TrainConfig
from condswin.training.data.samples import SliceDataset
from condswin.training.modules.base import ConfigState
from condswin.training.seeds import sample_seed

__all__ = ["EpochSampler", "SeededSamples", "VolumeSampler", "SliceDataModule", "slice_volumes"]


def slice_volumes(dataset: Dataset) -> list[str]:
    """The volume name of every index of ``dataset``.

    A :class:`condswin.training.data.samples.SliceDataset` answers from its index without reading a slice;
    any other dataset is read once, sample by sample.
    """
    if isinstance(dataset, SliceDataset):
        return [dataset.volume_ids[int(v)] for v in dataset.index[:, 0]]
    return [str(dataset[i].volume) for i in range(len(dataset))]  # type: ignore[arg-type]


class VolumeSampler(Sampler[int]):
    """Indices of whole volumes for one rank, each volume's slices consecutive.

    Volumes (in order of first appearance) are split into ``num_replicas`` contiguous groups of nearly equal
    size; rank r yields the indices of group r. Nothing is padded or repeated, so no slice is scored twice.

    Args:
        volumes: the volume name of every dataset index (:func:`slice_volumes`).
        num_replicas: number of processes.
        rank: this process.
    """

    def __init__(self, volumes: Sequence[str], num_replicas: int = 1, rank: int = 0):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"VolumeSampler: rank {rank} outside 0…{num_replicas - 1}")
        order: dict[str, list[int]] = {}
        for index, name in enumerate(volumes):
            order.setdefault(name, []).append(index)
        names = list(order)
        groups = np.array_split(np.arange(len(names)), num_replicas)
        self.volumes = [names[i] for i in groups[rank]]
        self.indices = [i for name in self.volumes for i in order[name]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochSampler(Sampler[tuple[int, int]]):
    """``(epoch, index)`` pairs in the order of a shuffled, rank-sharded :class:`DistributedSampler`.

    The epoch travels with the index to the worker that makes the sample (:class:`SeededSamples`), so even a
    persistent worker, started epochs ago, seeds each sample from its own epoch.
    """

    def __init__(self, inner: DistributedSampler, epoch: int = 0):
        self.inner = inner
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before every epoch: a new permutation, and new sample seeds."""
        self.epoch = int(epoch)
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(index)) for index in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


class SeededSamples(Dataset):
    """A training dataset whose sample ``index`` of ``epoch`` draws from torch's generator seeded by
    :func:`condswin.training.seeds.sample_seed` (the caller's generator state is left as it was).

    Args:
        dataset: the training dataset (its randomness drawn from torch's global generator).
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            return self.dataset[index]


class SliceDataModule(L.LightningDataModule):
    """The loaders of a run, built once the trainer knows the number of processes and this one's rank.

    Args:
        config: the run's configuration (batch size, workers, seed).
        train: training slices.
        val: validation slices, or None.
        test: test slices, or None.
    """

    def __init__(self, config: TrainConfig, train: Dataset, val: Dataset | None = None, test: Dataset | None = None):
        super().__init__()
        self.config = config
        self.train_set, self.val_set, self.test_set = train, val, test
        self._volumes: dict[str, list[str]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for ``ddp_spawn`` (see :class:`condswin.training.modules.base.ConfigState`)."""
        return {**self.__dict__, "config": ConfigState.of(self.config)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the config from its plain values."""
        self.__dict__.update({**state, "config": state["config"].restore()})

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (1, 0) if trainer is None else (int(trainer.world_size), int(trainer.global_rank))

    def _loader(self, dataset: Dataset, sampler: Sampler[Any]) -> DataLoader:
        workers = self.config.data.workers
        trainer = self.trainer
        pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
        # The loader's own generator draws the worker base seed: creating an iterator must not consume the
        # global RNG, whose state per epoch TaskModule fixes (Lightning creates the first epoch's iterator
        # before on_train_epoch_start on a fresh or resumed fit, later ones after it).
        generator = torch.Generator().manual_seed(self.config.trainer.seed)
        return DataLoader(
            dataset,
            batch_size=self.config.trainer.batch_size,
            sampler=sampler,
            num_workers=workers,
            # workers live across epochs: starting processes (and re-opening volumes) every epoch is slow
            persistent_workers=workers > 0,
            pin_memory=pin,
            drop_last=False,
            generator=generator,
        )

    def _evaluation_loader(self, dataset: Dataset, split: str) -> DataLoader:
        world, rank = self._world()
        if split not in self._volumes:
            self._volumes[split] = slice_volumes(dataset)
        count = len(set(self._volumes[split]))
        if count < world:
            # a process with no volume would log nothing and leave the others waiting at the epoch's gather
            raise UsageError(
                f"{self.config.source}: data: the {split} split has {count} volume(s) but the run uses {world} "
                f"processes; each needs at least one whole volume (more {split} volumes, or fewer devices)"
            )
        return self._loader(dataset, VolumeSampler(self._volumes[split], world, rank))

    def train_dataloader(self) -> DataLoader:
        """Shuffled training slices, this rank's share of every global batch."""
        world, rank = self._world()
        seed = self.config.trainer.seed
        shards: DistributedSampler[int] = DistributedSampler(
            self.train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False
        )
        # Start at the epoch Lightning will pass to set_epoch (its processed-epoch count): it may draw the first
        # epoch's indices (worker prefetch) before calling set_epoch, which after a resume replayed epoch 0.
        # (Lightning's type for the tracker lacks the `processed` count its run-time class has.)
        progress = None if self.trainer is None else self.trainer.fit_loop.epoch_progress.current
        epoch = 0 if progress is None else int(progress.processed)  # type: ignore[attr-defined]
        return self._loader(SeededSamples(self.train_set, seed), EpochSampler(shards, epoch))

    def val_dataloader(self) -> Any:
        """Whole validation volumes of this rank (an empty list when there is no validation split)."""
        return [] if self.val_set is None else self._evaluation_loader(self.val_set, "val")

    def test_dataloader(self) -> Any:
        """Whole test volumes of this rank (an empty list when there is no test split)."""
        return [] if self.test_set is None else self._evaluation_loader(self.test_set, "test")
