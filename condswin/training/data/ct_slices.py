"""One CT training sample from an HU slice and its labels: window, resize, augment — as inference prepares it."""

from __future__ import annotations

import numpy as np
import torch

from condswin.bundles.contract import Normalization
from condswin.training.config import AugmentSection
from condswin.training.data.augment import Geometric, IntensityJitter
from condswin.training.data.grid import resize_labels, resize_like_inference
from condswin.training.data.samples import SliceSample

__all__ = ["make_ct_sample"]


def make_ct_sample(
    hu: np.ndarray,
    labels: np.ndarray,
    normalization: Normalization,
    size: tuple[int, int],
    augment: AugmentSection | None,
    rng: np.random.Generator,
    volume: str,
    slice_index: int,
) -> SliceSample:
    """Window an axial HU slice with the card's normalisation, resize it like the engine, augment it.

    Args:
        hu: (h, w) slice in HU (any real dtype), in the model's slice layout.
        labels: (h, w) labels 0/1/2 on the same grid.
        normalization: the card's HU window.
        size: the model grid (rows, columns) (``input.size``).
        augment: the augmentation section for a training sample, None for evaluation.
        rng: the sample's generator.
        volume: the volume id.
        slice_index: the slice's index in its volume.

    Returns:
        A :class:`SliceSample` with a (1, rows, columns) float32 image and (rows, columns) int64 labels.
    """
    batch = np.asarray(hu)[None]
    offsets, scales = normalization.offsets_and_scales(batch, None)
    windowed = normalization.apply(batch, offsets, scales)
    image = resize_like_inference(torch.from_numpy(windowed)[None], size)[0].numpy()
    target = resize_labels(np.asarray(labels).astype(np.int64), size)
    if augment is not None:
        transform = Geometric.draw(augment, rng)
        if transform is not None:
            image, target = transform.apply(image), transform.apply(target, labels=True)
        if augment.intensity > 0:
            image = IntensityJitter.draw(augment, rng).apply(image)
    return SliceSample(
        image=torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        target=torch.from_numpy(np.ascontiguousarray(target, dtype=np.int64)),
        volume=volume,
        slice_index=int(slice_index),
        scale=1.0,
        offset=0.0,
    )
