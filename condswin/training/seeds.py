"""Where a run's randomness comes from, so that it repeats exactly: on resume, across workers and across ranks.

* Network weights: ``lightning.seed_everything(trainer.seed)`` before the network is built (every DDP
  process builds the same initial weights).
* Training samples (masks, noise, augmentation): drawn inside the dataset from torch's generator, which the
  loader seeds per sample from (seed, epoch, index) — :func:`sample_seed` — so a sample's randomness does not
  depend on which worker or rank loads it, on persistent workers' history, or on what ran before a resume.
* Everything else drawn in the training step (dropout, routers' noise): the global generators, reseeded at
  the start of every epoch from (seed, epoch, rank) — :func:`epoch_seed`.
* Validation samples: fixed per (volume, slice) by the datasets themselves.
"""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_seed", "sample_seed"]


def _mix(*keys: int) -> int:
    # SeedSequence spreads nearby keys (epoch 3 / epoch 4) over unrelated 31-bit seeds
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0] & 0x7FFFFFFF)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of the global generators for one training epoch on one rank."""
    return _mix(seed, 1, epoch, rank)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of torch's generator while training sample ``index`` of ``epoch`` is made."""
    return _mix(seed, 2, epoch, index)
