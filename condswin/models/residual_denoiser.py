"""A denoiser that predicts the noise: output = input − network(input), identity before training.

Measured in short training runs: a plain U-Net trained briefly to output the clean image reached BM3D's SSIM
but stayed 5–8 dB below it in PSNR, because its output intensities were biased. Predicting the residual instead (DnCNN, Zhang et al.
2017) leaves the image's intensities to the input and asks the network only for the noise, including the
Rician floor, which is a noise-dependent offset. The inner network's last layer (``head``) starts at zero, so
an untrained model returns its input unchanged and training can only move it away from "do nothing".

Speed (the target is at least 50× BM3D's speed on a CPU): the inner network works on a space-to-depth
rearrangement of the slice (``pixel_unshuffle`` by ``space_to_depth``: each s×s block becomes s² channels at 1/s the size, as
FFDNet does), which divides the convolution cost at full resolution by about s² and widens the receptive field;
``pixel_shuffle`` puts the predicted noise back on the full grid. Nothing is lost: the rearrangement is a
permutation of pixels.

Noise level (``sigma_input``): σ is unknown at inference, so the network is given the slice's own noise
estimate as an extra constant channel, computed inside ``forward`` from the normalised slice it is handed —
training and inference therefore see the very same estimate, with no caller involved. The estimate is Donoho's
robust one on the finest diagonal Haar detail, median(|HH|)/0.6745, in the input's normalised units; for Rician
data it is a noise-level cue (in air the Rayleigh spread is 0.66σ), not σ itself, which is all the network
needs from it.

Noise in units of that level (``noise_units``): an inner network with instance norm (the fastMRI U-Net) is blind
to the amplitude of its input (every feature map is rescaled to unit variance), so whatever it predicts has one
amplitude for every noise level. With ``noise_units`` its output is multiplied by the slice's Haar estimate
divided by 0.05 (a typical level in normalised units, so the head's weights stay of order one): the amplitude
comes from the estimate, the pattern from the network.

Edges at full resolution (``refiner``: hidden channels, 0 = none): a small full-resolution network
(:class:`condswin.models.detail_refiner.DetailRefiner`) looks at what the blocks' network removed, finds the
edge detail in it and puts it back, before the gate. It starts as the identity.

Flat background (``air_gate``): the denoised image is multiplied by a per-pixel factor in [0, 1] that a small
gate network predicts from it (:class:`condswin.models.air_gate.AirGate`), so air comes out flat instead of
keeping the texture of noise the residual did not cancel exactly. Off, the model is the plain residual.
``gate_context`` gives the gate a wide view (dilated convolutions), ``air_floor`` a learned value for the air
instead of zero (a real magnitude image's air holds the scanner's noise floor); see the gate's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from condswin.models.air_gate import AirGate
from condswin.models.detail_refiner import DetailRefiner
from condswin.models.heads import zero_head
from condswin.models.padding import crop_to, pad_to_multiple
from condswin.models.registry import build_model, get_model_spec, register_model
from condswin.models.validation import check_image_batch

__all__ = ["ResidualDenoiserConfig", "ResidualDenoiser", "haar_noise_level"]

# Median of |N(0, 1)|: turns the median absolute wavelet detail into a standard deviation.
_MAD_TO_SIGMA = 0.6744897501960817
# A typical noise level in normalised units (5 % of the percentile range): the unit of ``noise_units``.
_LEVEL_UNIT = 0.05


@dataclass
class ResidualDenoiserConfig:
    """Hyper-parameters of :class:`ResidualDenoiser`.

    Attributes:
        in_channels: must be 1 (a magnitude slice).
        out_channels: must be 1 (the denoised slice).
        inner: registry name of the network that predicts the noise (its last layer must be a ``head`` Conv2d).
        inner_config: overrides of the inner network's config (JSON-able: they are stored in the model card).
        space_to_depth: the inner network sees s×s pixel blocks as s² channels at 1/s the size (1 = off).
        sigma_input: add the slice's estimated noise level (:func:`haar_noise_level`) as an input channel.
        noise_units: multiply the network's output by that estimate (it predicts noise in units of the level).
        air_gate: multiply the denoised image by a learned per-pixel factor in [0, 1] (a flat background).
        refiner: hidden channels of a full-resolution stage that restores the edge detail the blocks' network
            removed (0: none).
        gate_context: the gate also sees a wide neighbourhood (needs ``air_gate``).
        air_floor: where the gate closes, the output takes a learned floor instead of zero (needs ``air_gate``).
    """

    in_channels: int = 1
    out_channels: int = 1
    inner: str = "unet"
    inner_config: dict[str, Any] = field(default_factory=lambda: {"chans": 8, "num_pool_layers": 3})
    space_to_depth: int = 2
    sigma_input: bool = False
    noise_units: bool = False
    air_gate: bool = False
    refiner: int = 0
    gate_context: bool = False
    air_floor: bool = False

    def __post_init__(self) -> None:
        if self.in_channels != 1 or self.out_channels != 1:
            raise ValueError(
                "residual_denoiser: denoises one magnitude channel (in_channels 1, out_channels 1), "
                f"got {self.in_channels} in, {self.out_channels} out"
            )
        if isinstance(self.space_to_depth, bool) or not isinstance(self.space_to_depth, int) or self.space_to_depth < 1:
            raise ValueError(f"residual_denoiser: space_to_depth must be an integer >= 1, got {self.space_to_depth!r}")
        if isinstance(self.refiner, bool) or not isinstance(self.refiner, int) or self.refiner < 0:
            raise ValueError(f"residual_denoiser: refiner must be an integer >= 0 (0: none), got {self.refiner!r}")
        if (self.gate_context or self.air_floor) and not self.air_gate:
            raise ValueError(
                "residual_denoiser: gate_context and air_floor are parts of the air gate: set air_gate too"
            )
        self.inner_config = dict(self.inner_config)  # a card gives a read-only mapping back
        spec = get_model_spec(self.inner)  # an unknown name is a UsageError listing the names
        if spec.config_cls is ResidualDenoiserConfig:
            raise ValueError("residual_denoiser: the inner network cannot itself be a residual denoiser")


def haar_noise_level(x: torch.Tensor) -> torch.Tensor:
    """Robust noise estimate of each slice: median(|HH|) / 0.6745 of the finest diagonal Haar detail.

    HH = (a − b − c + d) / 2 over each 2×2 block has the variance of white noise and almost none of a smooth
    image, and the median ignores the few edges that leak into it (Donoho & Johnstone 1994).

    Args:
        x: (B, 1, H, W) with H, W >= 2.

    Returns:
        (B,) float32 estimates in the units of ``x``.
    """
    x = x.float()
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    detail = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    return detail.abs().flatten(1).median(dim=1).values / _MAD_TO_SIGMA


class ResidualDenoiser(nn.Module):
    """(B, 1, H, W) noisy slice → (B, 1, H, W) slice minus the predicted noise (see the module docstring)."""

    def __init__(self, config: ResidualDenoiserConfig):
        super().__init__()
        self.config = config
        blocks = config.space_to_depth**2
        in_chans = blocks + (1 if config.sigma_input else 0)
        self.net = build_model(config.inner, in_chans, blocks, **config.inner_config)
        zero_head(self.net, "residual_denoiser", config.inner)
        self.refiner = DetailRefiner(config.refiner) if config.refiner else None
        self.gate = AirGate(blocks, context=config.gate_context, floor=config.air_floor) if config.air_gate else None

    def _blocks_and_level(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int], torch.Tensor | None]:
        """The padded slice as s×s blocks, the padding, and the slice noise level where a part needs it."""
        name = getattr(self, "model_name", "residual_denoiser")
        check_image_batch(x, 1, name)
        s = self.config.space_to_depth
        if x.shape[-2] < 2 * s or x.shape[-1] < 2 * s:
            raise ValueError(f"{name}: input of {tuple(x.shape[-2:])} pixels is too small (at least {2 * s} a side)")
        padded, pads = pad_to_multiple(x, s)
        blocks = F.pixel_unshuffle(padded, s) if s > 1 else padded
        level = None
        if self.config.sigma_input or self.config.noise_units or self.config.air_gate or self.config.refiner:
            with torch.autocast(device_type=x.device.type, enabled=False):  # a median in float32, always
                level = haar_noise_level(x)
        return blocks, pads, level

    def _noise_blocks(self, blocks: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        """The noise the inner network predicts, on the blocks."""
        inputs = blocks
        if self.config.sigma_input:
            assert level is not None  # measured whenever sigma_input, noise_units or air_gate is set
            level_map = level.to(blocks.dtype).view(-1, 1, 1, 1).expand(-1, 1, *blocks.shape[-2:])
            inputs = torch.cat([blocks, level_map], dim=1)
        noise = self.net(inputs)
        if self.config.noise_units:
            assert level is not None
            noise = noise * (level / _LEVEL_UNIT).to(noise.dtype).view(-1, 1, 1, 1)
        return noise

    def _unblock(self, blocks: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
        s = self.config.space_to_depth
        return crop_to(F.pixel_shuffle(blocks, s) if s > 1 else blocks, pads)

    def predicted_noise(self, x: torch.Tensor) -> torch.Tensor:
        """The noise the network sees in ``x`` (B, 1, H, W): x minus the residual's output, before any gate."""
        blocks, pads, level = self._blocks_and_level(x)
        return self._unblock(self._noise_blocks(blocks, level), pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) → (B, 1, H, W) = x − predicted noise (refined and times the gate where the model has
        them), in x's dtype."""
        blocks, pads, level = self._blocks_and_level(x)
        denoised = blocks - self._noise_blocks(blocks, level).to(blocks.dtype)
        if self.refiner is not None:
            assert level is not None  # measured whenever the refiner is there
            s = self.config.space_to_depth
            full, noisy = (F.pixel_shuffle(t, s) if s > 1 else t for t in (denoised, blocks))
            refined = self.refiner(noisy, full, level)
            denoised = F.pixel_unshuffle(refined, s) if s > 1 else refined
        if self.gate is not None:
            assert level is not None  # measured whenever the gate is there
            denoised = self.gate.gated(denoised, level)
        return self._unblock(denoised, pads).to(x.dtype)


register_model(
    "residual_denoiser",
    ResidualDenoiserConfig,
    ResidualDenoiser,
    description="denoising default: input minus the noise predicted by an inner network (zero-initialised head: "
    "identity before training), on 2x2 space-to-depth blocks; optionally the slice's estimated noise level as input",
    tasks=("denoising",),
)
