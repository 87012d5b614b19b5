"""Undersampling for reconstruction samples: masks with fastMRI semantics and the zero-filled network input.

Masks come from :class:`condswin.mri.masks.MaskSampler` over the config's (centre fraction, acceleration)
pairs. Training draws a fresh mask per sample (the pair first, uniformly, then the mask from the sample's
generator); evaluation uses the per-file seeded mask of fastMRI (:func:`fastmri_seed` of the file name, the
pair drawn by the seeded sampler as fastMRI draws it), so every slice of a volume shares one mask and a
validation score is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from condswin.mri.fft import ifft2c
from condswin.mri.kspace import apply_mask, center_crop
from condswin.mri.masks import MaskSampler, fastmri_seed
from condswin.training.config import DataSection

__all__ = ["MaskDrawer", "zero_filled_input"]


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
