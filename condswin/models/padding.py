"""Pad an image batch so a network can take any size, and crop its output back.

Networks that downsample (U-Nets, patch embeddings, windows) need sizes divisible by some factor. Padding
with reflection keeps the statistics at the border closer to the image than zeros would; the pad is split
evenly between both sides so the crop is symmetric.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple", "crop_to"]


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect"
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad the last two dims of ``x`` up to a multiple of ``multiple``.

    Args:
        x: (batch, channels, H, W).
        multiple: the factor both H and W must divide by.
        mode: ``"reflect"`` (falls back to ``"replicate"`` where the image is too small to reflect) or
            ``"constant"`` (zeros).

    Returns:
        The padded tensor and the (left, right, top, bottom) pad, for :func:`crop_to`.
    """
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if pad_h == 0 and pad_w == 0:
        return x, pads
    if mode == "reflect" and (pads[0] >= w or pads[1] >= w or pads[2] >= h or pads[3] >= h):
        mode = "replicate"  # reflection needs the pad to be smaller than the image
    if mode == "constant":
        return F.pad(x, pads, mode="constant", value=0.0), pads
    return F.pad(x, pads, mode=mode), pads


def crop_to(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on a network output with the same spatial size as the padded input."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
