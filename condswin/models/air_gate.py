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

Context (``context``): two 3×3 convolutions see 5×5 blocks (10×10 pixels), too little to tell a dark patch of
tissue from air when σ is large. A parallel branch of dilated 3×3 convolutions (dilations 2, 4 and 8: 29×29
blocks, 58×58 pixels) adds its say to the same factor; its last layer starts at zero, so a gate that gains the
branch starts as the gate it was.

Air floor (``floor``): a factor of zero puts out exactly zero, but the air of a real magnitude image is not zero:
it holds the scanner's own noise floor. Measured on two held-out real volumes (a T1 and a T2), their air averages
0.5 % of the maximum where the gated output averaged 0.1 %, and SSIM's luminance term, (2μxμy + C1) / (μx² + μy²
+ C1) with C1 = (0.01·max)², puts a flat zero at about 0.8 there. So where the gate closes, the output goes to a
learned floor instead of zero: y·g + (1 − g)·max(a + b·level, 0), with a and b learned from the training volumes'
own air (both start at zero: the plain gate) and level the slice's noise level, because the model's units are set
by the noisy volume's percentiles, whose low end moves with σ. The floor is never below zero (in the model's units,
where zero is the noisy volume's 0.5th percentile, itself ≥ 0 for a magnitude image): left free, it went to −3 % of
the range and put the held-out volumes' air below zero at low σ, which a magnitude image never is. Its gradient
passes at exactly zero, so a floor starting there can still rise.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AirGate"]

# Noise levels beyond which a pixel is tissue whatever its neighbours: the gate's input is clamped there.
_CLAMP = 10.0


class AirGate(nn.Module):
    """(B, C, h, w) denoised blocks and (B,) noise levels → (B, C, h, w) factors in [0, 1].

    Two 3×3 convolutions (a receptive field of 5×5 blocks) and a 1×1 output per block channel, plus, with
    ``context``, a branch of dilated convolutions (29×29 blocks) whose output is added to theirs.

    Args:
        channels: block channels (s² for space-to-depth s).
        width: hidden channels.
        context: add the dilated branch.
        floor: learn the value closed pixels take (:meth:`gated`); without it they are zero.
    """

    def __init__(self, channels: int, width: int = 16, context: bool = False, floor: bool = False):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 1),
        )
        _zero_last(self.layers)
        self.context: nn.Sequential | None = None
        if context:
            self.context = nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=2, dilation=2),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, width, 3, padding=4, dilation=4),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, width, 3, padding=8, dilation=8),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, channels, 1),
            )
            _zero_last(self.context)
        # (a, b) of the floor a + b·level that closed pixels take
        self.floor = nn.Parameter(torch.zeros(2)) if floor else None

    def forward(self, denoised: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Factors for ``denoised`` (B, C, h, w); ``level`` (B,) the slice noise levels in the same units."""
        scale = level.to(denoised.dtype).clamp_min(1e-6).view(-1, 1, 1, 1)
        in_levels = (denoised / scale).clamp(-_CLAMP, _CLAMP) / _CLAMP
        opening = self.layers(in_levels)
        if self.context is not None:
            opening = opening + self.context(in_levels)
        return (1.0 + opening).clamp(0.0, 1.0)

    def gated(self, denoised: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """``denoised`` gated: y·g, or y·g + (1 − g)·max(floor, 0) with a learned floor; all (B, C, h, w)."""
        factor = self(denoised, level).to(denoised.dtype)
        if self.floor is None:
            return denoised * factor
        floor = (self.floor[0] + self.floor[1] * level.float()).clamp_min(0.0).to(denoised.dtype).view(-1, 1, 1, 1)
        return denoised * factor + (1.0 - factor) * floor


def _zero_last(layers: nn.Sequential) -> None:
    """Start a branch's output at zero (its last layer is a Conv2d with a bias)."""
    last = layers[-1]
    assert isinstance(last, nn.Conv2d) and last.bias is not None
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
