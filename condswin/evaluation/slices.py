"""Which slice a figure shows of a volume: one rule for the demo, the evaluation montage and the benchmarks."""

from __future__ import annotations

import numpy as np

__all__ = ["representative_slice"]


def representative_slice(reference: np.ndarray, labels: bool) -> int:
    """The slice (first axis) a figure shows of a reference volume.

    Label maps: the slice with the most voxels of the rarest class present (the smallest total volume), so a
    liver CT shows its tumour where it has one and the most liver otherwise, whatever the label values.
    Images: the slice with the largest object, the object being what exceeds 10 % of the volume's maximum, so
    the widest cross-section wins rather than a slice of bright fat or skull base (what the most total signal
    would pick in a head).

    Args:
        reference: (slices, H, W) reference volume: a non-negative integer label map, or an image.
        labels: whether it is a label map.

    Returns:
        A slice index; the middle one when no slice holds anything.
    """
    flat = reference.reshape(reference.shape[0], -1)
    if labels:
        counts = np.bincount(flat[flat > 0].astype(np.int64).ravel())
        present = np.flatnonzero(counts)
        if present.size == 0:
            return reference.shape[0] // 2
        rarest = present[np.argmin(counts[present])]
        area = (flat == rarest).sum(axis=1)
    else:
        area = (flat > 0.1 * float(flat.max())).sum(axis=1)
    return int(np.argmax(area)) if area.max() > 0 else reference.shape[0] // 2
