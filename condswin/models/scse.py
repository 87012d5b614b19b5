"""Concurrent spatial and channel squeeze-and-excitation (scSE).

Roy, Navab & Wachinger, "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully Convolutional
Networks", MICCAI 2018. The channel branch (cSE, after Hu et al.'s SE) squeezes space by global average
pooling and re-weights channels; the spatial branch (sSE) squeezes channels with a 1×1 conv and re-weights
pixels. scSE combines both recalibrated maps; the paper's default combination is their element-wise sum.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["ChannelSE", "SpatialSE", "SCSE"]


class ChannelSE(nn.Module):
    """cSE: x · σ(W₂ ReLU(W₁ avgpool(x))), with a bottleneck of ``channels // reduction`` (at least 1)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C, H, W), each channel scaled by its gate in (0, 1)."""
        return x * self.excite(x)


class SpatialSE(nn.Module):
    """sSE: x · σ(conv1×1(x)) — one gate per pixel shared by all channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.excite = nn.Sequential(nn.Conv2d(channels, 1, kernel_size=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C, H, W), each pixel scaled by its gate in (0, 1)."""
        return x * self.excite(x)


class SCSE(nn.Module):
    """scSE block: cSE(x) + sSE(x) (``combine="add"``, the paper's default) or their element-wise max.

    Args:
        channels: feature channels.
        reduction: channel reduction of the cSE bottleneck.
        combine: ``"add"`` or ``"max"``.
    """

    def __init__(self, channels: int, reduction: int = 16, combine: Literal["add", "max"] = "add"):
        super().__init__()
        if combine not in ("add", "max"):
            raise ValueError(f"scSE: combine must be 'add' or 'max', got {combine!r}")
        self.cse = ChannelSE(channels, reduction)
        self.sse = SpatialSE(channels)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C, H, W)."""
        c, s = self.cse(x), self.sse(x)
        return c + s if self.combine == "add" else torch.maximum(c, s)
