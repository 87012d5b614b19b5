"""The last steps of an image-task sample (reconstruction, denoising): crop or pad to the batch size, jitter.

Image tasks run at the native grid at inference (the card's ``size`` is null); training only cuts windows of
``data.size`` out of the normalised slices (random in training, centred in evaluation) or pads them with
zeros, so that slices of different sizes can share a batch. Pixel size and intensities are unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

from condswin.training.config import AugmentSection
from condswin.training.data.augment import IntensityJitter
from condswin.training.data.grid import crop_or_pad, crop_window
from condswin.training.data.samples import SliceSample

__all__ = ["image_sample", "as_channels"]


def as_channels(image: np.ndarray) -> np.ndarray:
    """(h, w) real → (1, h, w); complex → (2, h, w) real and imaginary parts (as the engine feeds them)."""
    if np.iscomplexobj(image):
        return np.stack([image.real, image.imag]).astype(np.float32)
    return np.asarray(image, dtype=np.float32)[None]


def image_sample(
    image: np.ndarray,
    target: np.ndarray,
    offset: float,
    scale: float,
    size: tuple[int, int],
    augment: AugmentSection | None,
    rng: np.random.Generator,
    volume: str,
    slice_index: int,
    jitter_bias: bool = True,
) -> SliceSample:
    """A :class:`SliceSample` from a normalised input and target on the same grid.

    Args:
        image: normalised input (h, w), real or complex (complex becomes two channels).
        target: normalised target (h, w), same grid.
        offset / scale: normalised → original units is ``x * scale + offset``.
        size: (rows, columns) of the sample.
        augment: the augmentation section for a training sample (random window, intensity jitter), or None.
        rng: the sample's generator.
        volume: the volume id.
        slice_index: the slice's index in its volume.
        jitter_bias: allow an intensity offset (not for reconstruction, whose zero background and complex
            input must stay as they are; the gain alone is used there).

    Returns:
        The sample: image (C, rows, columns) and target (1, rows, columns), float32.
    """
    corner = crop_window(image.shape[-2:], size, rng if augment is not None else None)
    channels = crop_or_pad(as_channels(image), size, corner)
    target = crop_or_pad(np.asarray(target, dtype=np.float32)[None], size, corner)
    if augment is not None and augment.intensity > 0:
        jitter = IntensityJitter.draw(augment, rng, with_bias=jitter_bias)
        channels, target = jitter.apply(channels), jitter.apply(target)
        scale, offset = jitter.rescale(scale, offset)
    return SliceSample(
        image=torch.from_numpy(np.ascontiguousarray(channels, dtype=np.float32)),
        target=torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)),
        volume=volume,
        slice_index=int(slice_index),
        scale=float(scale),
        offset=float(offset),
    )
