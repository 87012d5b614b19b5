"""UNet-DCTD-A: ResNet-18 encoder, dilated convolutions, scSE decoder — MRI denoising.

From "Deep Convolutional Transfer Learning Based Model with U-Net Architecture and Attention Mechanism for
Denoising Medical MR Images" (Thomas, Namgyal, Krishna K R, Babu): the encoder is a ResNet-18 that can start
from ImageNet weights (a local torchvision state dict; nothing is downloaded), its last stage dilates instead
of striding (receptive field without new parameters), and every decoder stage — 2× upsampling, concatenation
with the encoder skip, two 3×3 conv–BN–ReLU — ends in an scSE block (Roy et al. 2018). The last stage works at
full resolution and concatenates the input image, because a ResNet's first skip is already at half resolution
and denoising needs the fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from condswin.models.padding import crop_to, pad_to_multiple
from condswin.models.registry import register_model
from condswin.models.resnet_encoder import ResNet18Encoder, load_torchvision_resnet18
from condswin.models.scse import SCSE
from condswin.models.unet import check_min_spatial_size, min_size_for_pools
from condswin.models.validation import check_image_batch

__all__ = ["UNetDCTDAConfig", "UNetDCTDA", "SCSEDecoderBlock"]


@dataclass
class UNetDCTDAConfig:
    """Hyper-parameters of :class:`UNetDCTDA`.

    Attributes:
        in_channels: input image channels (the pretrained RGB stem is folded to this many).
        out_channels: output channels.
        decoder_channels: channels of the five decoder stages, deep to shallow (/16 … /1).
        dilated_stages: ResNet stages that dilate instead of striding: (), (4,) or (3, 4).
        scse_reduction: channel reduction inside the scSE blocks.
        pretrained: path of a torchvision ``resnet18`` state dict (``.pth`` or ``.safetensors``) to
            initialise the encoder from, or ``None`` for random initialisation.
    """

    in_channels: int = 1
    out_channels: int = 1
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    dilated_stages: tuple[int, ...] = (4,)
    scse_reduction: int = 16
    pretrained: str | None = None


class SCSEDecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate it, two 3×3 conv–BN–ReLU, then scSE."""

    def __init__(self, in_chans: int, skip_chans: int, out_chans: int, scse_reduction: int = 16):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_chans + skip_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ReLU(inplace=True),
        )
        self.attention = SCSE(out_chans, scse_reduction)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Decode ``x`` to the resolution of ``skip`` (a dilated stage already has it: no upsampling)."""
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.attention(self.convs(torch.cat([x, skip], dim=1)))


class UNetDCTDA(nn.Module):
    """ResNet-18 U-Net with dilation and scSE decoder (see module docstring); no final activation."""

    def __init__(self, config: UNetDCTDAConfig):
        super().__init__()
        if len(config.decoder_channels) != 5 or min(config.decoder_channels) < 1:
            raise ValueError(
                f"unet_dctd_a: decoder_channels must be 5 positive ints (one per resolution), "
                f"got {tuple(config.decoder_channels)}"
            )
        self.config = config
        self.encoder = ResNet18Encoder(config.in_channels, tuple(config.dilated_stages))
        if config.pretrained:
            load_torchvision_resnet18(self.encoder, config.pretrained)
        enc = self.encoder.feature_channels  # (64, 64, 128, 256, 512) at /2, /4, /8, /16, /32
        # Skips deep to shallow: layer3, layer2, layer1, stem, and the input image itself at full size.
        skips = (enc[3], enc[2], enc[1], enc[0], config.in_channels)
        in_chans = enc[4]
        self.decoder = nn.ModuleList()
        for skip_chans, out_chans in zip(skips, config.decoder_channels, strict=False):
            self.decoder.append(SCSEDecoderBlock(in_chans, skip_chans, out_chans, config.scse_reduction))
            in_chans = out_chans
        self.head = nn.Conv2d(in_chans, config.out_channels, kernel_size=3, padding=1)

    @property
    def min_input_size(self) -> int:
        """Smallest accepted image side (the deepest map must be at least 2×2)."""
        return min_size_for_pools(self.encoder.num_downsamplings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → (B, out_channels, H, W)."""
        name = getattr(self, "model_name", "unet_dctd_a")
        check_image_batch(x, self.config.in_channels, name)
        check_min_spatial_size(x, self.min_input_size, name, f"{self.encoder.num_downsamplings} downsamplings")
        x, pads = pad_to_multiple(x, 2**self.encoder.num_downsamplings)
        features = self.encoder(x)
        out = features[4]
        for block, skip in zip(self.decoder, (features[3], features[2], features[1], features[0], x), strict=False):
            out = block(out, skip)
        return crop_to(self.head(out), pads)


register_model(
    "unet_dctd_a",
    UNetDCTDAConfig,
    UNetDCTDA,
    description="UNet-DCTD-A: ResNet-18 encoder (optional local pretrained weights), dilated layer4, scSE decoder",
    tasks=("denoising", "reconstruction", "segmentation"),
)
