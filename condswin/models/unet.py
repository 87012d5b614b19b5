"""fastMRI-style U-Net: the plain convolutional baseline of every table.

Re-implemented from the published description of the fastMRI reference U-Net (Zbontar et al. 2018,
Ronneberger et al. 2015): every level is two 3×3 convolutions without bias, each followed by instance
norm, leaky ReLU (slope 0.2) and channel dropout; downsampling is 2×2 average pooling; upsampling is a
2×2 stride-2 transposed convolution (no bias) with instance norm and leaky ReLU; the head is a 1×1
convolution with bias. With 32 channels, 4 pools, 1 input and 1 output channel it has 7.76 M parameters.

The building blocks (:class:`ConvBlock`, :class:`TransposeConvBlock`) and the size check
(:func:`check_min_spatial_size`) are reused by LinTUNet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from condswin.models.padding import crop_to, pad_to_multiple
from condswin.models.registry import register_model
from condswin.models.validation import check_image_batch

__all__ = ["UNetConfig", "UNet", "ConvBlock", "TransposeConvBlock", "check_min_spatial_size", "min_size_for_pools"]


def min_size_for_pools(num_downsamplings: int) -> int:
    """Smallest image side a network that halves the image ``num_downsamplings`` times accepts.

    The coarsest feature map must be at least 2×2: instance and batch norm need more than one value per
    map, and a one-pixel bottleneck carries no spatial context. Hence ``2 ** (num_downsamplings + 1)``.
    """
    return 2 ** (num_downsamplings + 1)


def check_min_spatial_size(x: torch.Tensor, min_size: int, model_name: str, reason: str) -> None:
    """Raise ``ValueError`` when either spatial side of ``x`` is smaller than ``min_size``.

    Args:
        x: (batch, channels, H, W) input.
        min_size: smallest accepted side in pixels.
        model_name: named in the message.
        reason: why this minimum exists (e.g. "4 poolings"), named in the message.
    """
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"{model_name}: input of {h}×{w} pixels is too small; each side must be at least {min_size} px ({reason})"
        )


@dataclass
class UNetConfig:
    """Hyper-parameters of :class:`UNet`.

    Attributes:
        in_channels: input image channels.
        out_channels: output channels (classes for segmentation, 1 for an image).
        chans: channels of the first level; doubled at every pool.
        num_pool_layers: number of 2× downsamplings.
        drop_prob: channel-dropout probability inside every conv block.
    """

    in_channels: int = 1
    out_channels: int = 1
    chans: int = 32
    num_pool_layers: int = 4
    drop_prob: float = 0.0


class ConvBlock(nn.Module):
    """Two (3×3 conv without bias → instance norm → leaky ReLU 0.2 → Dropout2d) layers.

    The conv has no bias because instance norm removes any per-channel constant right after it.
    """

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in in (in_chans, out_chans):
            layers += [
                nn.Conv2d(c_in, out_chans, kernel_size=3, padding=1, bias=False),
                nn.InstanceNorm2d(out_chans),
                nn.LeakyReLU(negative_slope=0.2, inplace=True),
                nn.Dropout2d(drop_prob),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) → (B, out_chans, H, W)."""
        return self.layers(x)


class TransposeConvBlock(nn.Module):
    """2× upsampling: 2×2 stride-2 transposed conv (no bias) → instance norm → leaky ReLU 0.2."""

    def __init__(self, in_chans: int, out_chans: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) → (B, out_chans, 2H, 2W)."""
        return self.layers(x)


class UNet(nn.Module):
    """fastMRI-style U-Net for segmentation (logits), reconstruction and denoising (image out).

    Any input of at least ``min_input_size`` pixels per side is accepted: it is reflection-padded to a
    multiple of ``2 ** num_pool_layers`` and the output is cropped back to the input size.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        if config.num_pool_layers < 1:
            raise ValueError(f"unet: num_pool_layers must be >= 1, got {config.num_pool_layers}")
        if config.chans < 1:
            raise ValueError(f"unet: chans must be >= 1, got {config.chans}")
        self.config = config
        ch = config.chans
        self.down_blocks = nn.ModuleList([ConvBlock(config.in_channels, ch, config.drop_prob)])
        for _ in range(config.num_pool_layers - 1):
            self.down_blocks.append(ConvBlock(ch, ch * 2, config.drop_prob))
            ch *= 2
        self.bottleneck = ConvBlock(ch, ch * 2, config.drop_prob)
        self.up_transposes = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for _ in range(config.num_pool_layers):
            self.up_transposes.append(TransposeConvBlock(ch * 2, ch))
            self.up_blocks.append(ConvBlock(ch * 2, ch, config.drop_prob))
            ch //= 2
        self.head = nn.Conv2d(config.chans, config.out_channels, kernel_size=1)

    @property
    def min_input_size(self) -> int:
        """Smallest accepted image side (see :func:`min_size_for_pools`)."""
        return min_size_for_pools(self.config.num_pool_layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder–decoder on an already padded input; returns the last decoder features (before the head)."""
        skips = []
        for block in self.down_blocks:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = self.bottleneck_forward(self.bottleneck(x))
        for up, block in zip(self.up_transposes, self.up_blocks, strict=False):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return x

    def bottleneck_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Hook for subclasses that process the bottleneck features (LinTUNet adds attention here)."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → (B, out_channels, H, W); no final activation."""
        name = getattr(self, "model_name", type(self).__name__.lower())
        check_image_batch(x, self.config.in_channels, name)
        check_min_spatial_size(x, self.min_input_size, name, f"{self.config.num_pool_layers} poolings")
        x, pads = pad_to_multiple(x, 2**self.config.num_pool_layers)
        return crop_to(self.head(self.forward_features(x)), pads)


register_model(
    "unet",
    UNetConfig,
    UNet,
    description="fastMRI-style U-Net (instance norm, leaky ReLU, 4 pools, 32 chans: 7.76 M params); plain baseline",
    tasks=("segmentation", "reconstruction", "denoising"),
    chans=32,
    num_pool_layers=4,
)
