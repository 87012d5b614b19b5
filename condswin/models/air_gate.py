"""A learned gate that lets a residual denoiser put out a flat background where a magnitude image is empty.

Why: in the air around an MR head the clean magnitude is (nearly) zero and flat, but a residual denoiser must
predict the noise there exactly to cancel it — what it misses stays as a fine texture, and SSIM's structure
term punishes any fluctuation where the reference is flat (the classical methods get a flat background from
the Rician bias correction √max(u² − 2σ², 0), which zeroes every value below √2·σ). The gate multiplies the
denoised image by a factor in [0, 1] predicted per pixel, so "this is air" becomes a local decision (a value of
a few noise levels or less, with neighbours alike) instead of an exact cancellation.

Input: the denoised image in units of the slice's noise level (clamped to ±``_CLAMP`` levels: beyond that a
pixel is clearly tissue, and the bound keeps the input of order one), on the same space-to-depth blocks the
inner network sees. The factor is clamp(1 + g, 0, 1) of the gate network's output g, whose last layer starts at
zero: an untrained gate lets everything through, so a denoiser that gains a gate starts as the network it was,
and the factor responds linearly from the first step (a sigmoid started near 1 would be saturated there and
take thousands of steps to close anywhere).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AirGate"]

# Noise levels beyond which a pixel is tissue whatever its neighbours: the gate's input is clamped there.
_CLAMP = 10.0


class AirGate(nn.Module):
    """(B, C, h, w) denoised blocks and (B,) noise levels → (B, C, h, w) factors in [0, 1].

    Two 3×3 convolutions (a receptive field of 5×5 blocks) and a 1×1 output per block channel.

    Args:
        channels: block channels (s² for space-to-depth s).
        width: hidden channels.
    """

    def __init__(self, channels: int, width: int = 16):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 1),
        )
        last = self.layers[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, denoised: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Factors for ``denoised`` (B, C, h, w); ``level`` (B,) the slice noise levels in the same units."""
        scale = level.to(denoised.dtype).clamp_min(1e-6).view(-1, 1, 1, 1)
        in_levels = (denoised / scale).clamp(-_CLAMP, _CLAMP) / _CLAMP
        return (1.0 + self.layers(in_levels)).clamp(0.0, 1.0)
