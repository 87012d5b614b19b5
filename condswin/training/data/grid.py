"""In-plane grid of training slices: the inference engine's resize, and crops / pads to a fixed batch size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["resize_like_inference", "resize_labels", "crop_or_pad", "crop_window"]


def resize_like_inference(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (b, c, h, w) exactly as :class:`condswin.inference.SliceEngine` resizes its input.

    Antialiased when shrinking, so thin structures are not aliased away; a no-op at the same size.
    (A test checks this against the engine's own resize.)
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def resize_labels(labels: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of a (h, w) label map (pixel centres matched as ``align_corners=False``)."""
    h, w = labels.shape
    out_h, out_w = int(size[0]), int(size[1])
    if (h, w) == (out_h, out_w):
        return labels
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def crop_window(shape: Sequence[int], size: Sequence[int], rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size`` window in an image of ``shape`` (negative where the image must be padded).

    Args:
        shape: (h, w) of the image.
        size: (rows, columns) wanted.
        rng: random placement (training), or None for the centre (validation; as ``center_crop`` places it).

    Returns:
        ``(top, left)``; for a dimension smaller than the window the value is minus the padding before it.
    """
    corner = []
    for have, want in zip(shape, size, strict=True):
        spare = int(have) - int(want)
        if spare >= 0:
            corner.append(int(rng.integers(0, spare + 1)) if rng is not None else spare // 2)
        else:
            corner.append(-((-spare) // 2))
    return corner[0], corner[1]


def crop_or_pad(image: np.ndarray, size: Sequence[int], corner: tuple[int, int]) -> np.ndarray:
    """The (…, rows, columns) window of ``image`` at ``corner`` (from :func:`crop_window`), zero outside.

    Args:
        image: array (..., h, w), real or complex.
        size: (rows, columns).
        corner: (top, left), negative for padding.

    Returns:
        A new array (..., rows, columns) of the image's dtype.
    """
    rows, cols = int(size[0]), int(size[1])
    out = np.zeros(image.shape[:-2] + (rows, cols), dtype=image.dtype)
    top, left = corner
    src_r0, src_c0 = max(top, 0), max(left, 0)
    dst_r0, dst_c0 = max(-top, 0), max(-left, 0)
    n_r = min(image.shape[-2] - src_r0, rows - dst_r0)
    n_c = min(image.shape[-1] - src_c0, cols - dst_c0)
    out[..., dst_r0 : dst_r0 + n_r, dst_c0 : dst_c0 + n_c] = image[..., src_r0 : src_r0 + n_r, src_c0 : src_c0 + n_c]
    return out
