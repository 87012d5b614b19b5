"""Random generators for samples: fresh (but reproducible) in training, fixed per volume and slice in evaluation.

Training draws its numpy seed from torch's generator. DataLoader seeds torch in each worker from a base seed
that the main process draws anew for every epoch, so ``lightning.seed_everything`` makes a run repeatable
while every sample of every epoch still gets new masks, noise and augmentation. Evaluation generators depend
only on the (volume, slice) key, so a validation score does not depend on workers, order or epoch.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

__all__ = ["training_rng", "evaluation_rng", "text_seed"]


def text_seed(text: str) -> int:
    """A stable 32-bit integer from a string (CRC-32 of its UTF-8 bytes; Python's ``hash`` is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def training_rng() -> np.random.Generator:
    """A generator seeded from torch's current generator (fresh per call, repeatable under a global seed)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


def evaluation_rng(*keys: int | str) -> np.random.Generator:
    """A generator that depends only on ``keys`` (e.g. the split seed, the volume id and the slice index).

    Args:
        *keys: integers (non-negative) or strings (hashed with :func:`text_seed`).

    Returns:
        ``numpy.random.default_rng(SeedSequence(keys))``.
    """
    entropy = [text_seed(k) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))
