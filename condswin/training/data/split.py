"""Whole volumes held out for validation and test: a seeded split of volume ids, and disjoint phantom seeds.

Slices of one volume are strongly correlated, so a random split of slices would leak the validation volumes
into training. Every split here is by volume: a volume's slices all land in the same split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from condswin.errors import UsageError

__all__ = ["split_volumes", "phantom_seeds"]

T = TypeVar("T")

# Phantom seeds of split_seed s are s * _SEED_BLOCK + 0, 1, 2, ...: train first, then validation, then test,
# so no seed is in two splits, and different split seeds give different volumes.
_SEED_BLOCK = 1_000_000


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
