"""CDAE: the plain convolutional denoising autoencoder, the baseline UNet-DCTD-A is compared with.

After Gondara 2016, "Medical Image Denoising Using Convolutional Denoising Autoencoders": an encoder of
3×3 conv + ReLU + 2×2 max-pool levels and a mirrored decoder of 3×3 conv + ReLU + 2× upsampling, with no
skip connections — everything the output knows passes through the compressed code, which is exactly
what UNet-DCTD-A improves on. The head is a 3×3 conv without activation (images are not forced into
[0, 1]; add a sigmoid in the loss or data pipeline if a bounded output is wanted).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from condswin.models.padding import crop_to, pad_to_multiple
from condswin.models.registry import register_model
from condswin.models.unet import check_min_spatial_size
from condswin.models.validation import check_image_batch

__all__ = ["CDAEConfig", "CDAE"]


@dataclass
class CDAEConfig:
    """Hyper-parameters of :class:`CDAE`.

    Attributes:
        in_channels: input image channels.
        out_channels: output channels.
        features: conv channels of the encoder levels (one max-pool each); the decoder mirrors them.
        batch_norm: add BatchNorm after every conv (off in the plain baseline).
    """

    in_channels: int = 1
    out_channels: int = 1
    features: tuple[int, ...] = (64, 64)
    batch_norm: bool = False


def _conv_relu(in_chans: int, out_chans: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_chans))
    layers.append(nn.ReLU(inplace=True))
    return layers


class CDAE(nn.Module):
    """Convolutional denoising autoencoder without skips; any input of at least 2**levels px per side."""

    def __init__(self, config: CDAEConfig):
        super().__init__()
        if not config.features or min(config.features) < 1:
            raise ValueError(f"cdae: features must be a non-empty tuple of positive ints, got {config.features!r}")
        self.config = config
        encoder: list[nn.Module] = []
        in_chans = config.in_channels
        for chans in config.features:
            encoder += _conv_relu(in_chans, chans, config.batch_norm) + [nn.MaxPool2d(2)]
            in_chans = chans
        decoder: list[nn.Module] = []
        for chans in reversed(config.features):
            decoder += _conv_relu(in_chans, chans, config.batch_norm) + [nn.Upsample(scale_factor=2, mode="nearest")]
            in_chans = chans
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)
        self.head = nn.Conv2d(in_chans, config.out_channels, 3, padding=1)

    @property
    def min_input_size(self) -> int:
        """Smallest accepted side: every max-pool needs at least one pixel to pool (no norm layers here)."""
        return 2 ** len(self.config.features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → (B, out_channels, H, W)."""
        name = getattr(self, "model_name", "cdae")
        check_image_batch(x, self.config.in_channels, name)
        check_min_spatial_size(x, self.min_input_size, name, f"{len(self.config.features)} max-poolings")
        x, pads = pad_to_multiple(x, 2 ** len(self.config.features))
        return crop_to(self.head(self.decoder(self.encoder(x))), pads)


register_model(
    "cdae",
    CDAEConfig,
    CDAE,
    description="CDAE (UNet-DCTD-A's baseline): plain convolutional denoising autoencoder, no skip connections",
    tasks=("denoising",),
)
