"""Small synthetic test images shared by several test modules."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def brain_phantom(size: int = 128) -> np.ndarray:
    """Smooth synthetic head on a zero (air) background: scalp, brain, ventricles, a bright lesion; max 1."""
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    head = (xx / 0.72) ** 2 + (yy / 0.88) ** 2 < 1
    brain = (xx / 0.62) ** 2 + (yy / 0.78) ** 2 < 1
    ventricles = ((np.abs(xx) - 0.12) / 0.08) ** 2 + (yy / 0.25) ** 2 < 1
    lesion = ((xx + 0.3) / 0.1) ** 2 + ((yy - 0.35) / 0.1) ** 2 < 1
    img = 0.45 * head + brain * (0.3 + 0.1 * np.cos(3 * xx) * np.sin(2 * yy)) - 0.45 * ventricles * brain
    img = np.where(lesion, 1.0, img)
    img = ndimage.gaussian_filter(img, 1.0) * head
    return (img / img.max()).astype(np.float32)


def mr_volume(slices: int = 3, size: int = 32, scale: float = 100.0) -> np.ndarray:
    """A small MR magnitude volume: the brain phantom, brighter and shifted a little from slice to slice.

    Zero (air) background, so Rician σ estimates and zero-filled reconstructions behave as on real MR; the
    slices differ, so a mix-up of slices changes the result.
    """
    base = brain_phantom(size)
    return np.stack([scale * (1.0 + 0.2 * k) * np.roll(base, k, axis=1) for k in range(slices)]).astype(np.float32)
