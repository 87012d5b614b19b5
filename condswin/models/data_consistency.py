"""A reconstruction network that cannot start below zero-filled: zero-filled image + correction, then data consistency.

The network sees the normalised complex zero-filled image ``x`` (2 channels: real, imaginary) on the k-space
grid and predicts a complex correction ``c`` with any registered image network whose last layer (``head``)
starts at zero. The measured k-space columns are then put back (data consistency, as fastMRI's VarNet does):

    y = x + IFFT2c((1 - m) · FFT2c(c))

with ``m`` the sampled-column mask: the toolkit's data consistency (:func:`condswin.mri.kspace.data_consistency`)
applied to the correction against a measurement of nothing, since the measured columns are ``x``'s alone.
Because ``x`` is the zero-filled image, ``FFT2c(y)`` equals the measured k-space on every sampled column and
only the unmeasured columns are filled in; an untrained network
(``c = 0``) returns ``|x|``, the zero-filled reconstruction itself. The output is ``|y|`` as one channel, in
the normalised units of the input (complex normalisation has no offset, so the engine's ``* scale`` maps it
back). Why: a plain magnitude network (the ``unet``, 15 CPU minutes, 424 steps) landed 1.4–5.7 dB *below*
zero-filled on real k-space; this one starts at zero-filled and can only correct it.

The inner network pads its input to the multiple it needs and crops its output back (every registered
network does, :func:`condswin.models.padding.pad_to_multiple`), so ``c`` is on the k-space grid before the FFT.

Starting from compressed sensing (``start``: ``cs-tv`` or ``cs-wavelet``): the network corrects the
compressed-sensing image ``s`` of the slice instead of the zero-filled one (computed inside ``forward``, without
gradients, by :func:`condswin.mri.compressed_sensing.solvers.solve` with ``lam`` relative to the slice's largest
zero-filled magnitude), and

    y = DC(s) + IFFT2c((1 - m) · FFT2c(c)),   DC(s) = IFFT2c((1 - m) · FFT2c(s) + m · FFT2c(x)),

so the measured columns are still the data's exactly, and an untrained network (or a zero correction) returns
the compressed-sensing image with its measured columns restored. Classical compressed sensing without training
scored 2–5 dB above what this network learned from the zero-filled start on 2 CPU cores; started from it, the
network only has to improve on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from condswin.models.heads import zero_head
from condswin.models.registry import build_model, get_model_spec, register_model
from condswin.models.validation import check_image_batch
from condswin.mri.compressed_sensing.methods import get_method, resolve_parameters
from condswin.mri.compressed_sensing.solvers import MeasuredKSpace, solve
from condswin.mri.fft import fft2c
from condswin.mri.kspace import image_data_consistency

__all__ = [
    "ZERO_FILLED_START",
    "DataConsistencyConfig",
    "DataConsistentNetwork",
    "DataConsistentReconstruction",
    "MaskBound",
    "add_unmeasured",
    "column_mask",
    "is_data_consistent",
]


ZERO_FILLED_START = "zero_filled"


@dataclass
class DataConsistencyConfig:
    """Hyper-parameters of :class:`DataConsistentReconstruction`.

    Attributes:
        in_channels: must be 2 (the complex zero-filled image as real and imaginary channels).
        out_channels: must be 1 (the magnitude of the data-consistent image).
        inner: registry name of the network that predicts the correction (built with 2 in / 2 out channels).
        inner_config: overrides of the inner network's config (JSON-able: they are stored in the model card).
        start: the image the network corrects: ``zero_filled``, or the compressed-sensing image of ``cs-tv`` /
            ``cs-wavelet`` (module docstring).
        start_params: ``lam`` and ``iterations`` of that compressed sensing (the method's defaults otherwise).
    """

    in_channels: int = 2
    out_channels: int = 1
    inner: str = "cswin_light_1l"
    inner_config: dict[str, Any] = field(default_factory=dict)
    start: str = ZERO_FILLED_START
    start_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_data_consistent_config("recon_dc", self.in_channels, self.out_channels, self.inner)
        self.inner_config = dict(self.inner_config)  # a card gives a read-only mapping back
        self.start_params = dict(self.start_params)
        if self.start != ZERO_FILLED_START:
            get_method(self.start)  # an unknown name is a UsageError listing the methods
            self.start_params = resolve_parameters(self.start, self.start_params)
        elif self.start_params:
            raise ValueError("recon_dc: start_params apply to a compressed-sensing start (start: cs-tv or cs-wavelet)")


def check_data_consistent_config(name: str, in_channels: int, out_channels: int, inner: str) -> None:
    """The rules every data-consistency architecture's config shares: the complex zero-filled image in (2
    channels), one magnitude channel out, and a registered inner network that is not itself data-consistent.

    Raises:
        ValueError: a rule broken, naming ``name``.
        UsageError: an unknown inner network (the message lists the names).
    """
    if in_channels != 2:
        raise ValueError(
            f"{name} takes the complex zero-filled image (in_channels 2: real, imaginary; data.complex_input: true "
            f"in a training config), got {in_channels}"
        )
    if out_channels != 1:
        raise ValueError(f"{name} outputs one magnitude channel, got out_channels {out_channels}")
    if is_data_consistent(get_model_spec(inner).name):
        raise ValueError(f"{name}: the inner network cannot itself be a data-consistency model")


def column_mask(mask: torch.Tensor, batch: int, width: int, owner: str) -> torch.Tensor:
    """A (B, 1, W) float mask from a (W,) or (B, W) column mask; refuses any other shape (naming ``owner``)."""
    if mask.ndim == 1:
        mask = mask.expand(batch, -1)
    if mask.ndim != 2 or mask.shape[0] != batch or mask.shape[1] != width:
        raise ValueError(
            f"{owner}: column mask of shape {tuple(mask.shape)} does not fit a batch of {batch}×(H, {width})"
        )
    return mask.to(torch.float32)[:, None, :]


def add_unmeasured(image: torch.Tensor, correction: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    """``image + IFFT2c((1 - m) · FFT2c(correction))``: the correction's k-space on the unmeasured columns only.

    Args:
        image: complex (B, H, W) image whose k-space holds the measured data on the sampled columns.
        correction: (B, 2, H, W) real and imaginary channels of a network's output (any float dtype).
        sampled: (B, 1, W) float column mask (:func:`column_mask`).

    Returns:
        complex64 (B, H, W): the hard data consistency of ``image + correction`` against the measured k-space,
        written as the toolkit's :func:`condswin.mri.kspace.data_consistency` applied to the correction with
        nothing measured. A zero correction returns ``image`` bit for bit (no FFT round trip touches it).
    """
    # FFTs have no bf16 kernels and DC must be exact: leave autocast for the k-space step.
    with torch.autocast(device_type=image.device.type, enabled=False):
        c = torch.complex(correction[:, 0].float(), correction[:, 1].float())
        # the measured columns hold image's values: the correction may add nothing there
        return image + image_data_consistency(c, torch.zeros_like(c), sampled)


class DataConsistentNetwork(nn.Module):
    """A reconstruction network that takes the complex zero-filled image and its column mask and returns the
    magnitude of an image whose k-space equals the measured data on the sampled columns.

    ``forward(x, mask)``: ``x`` (B, 2, H, W) normalised complex zero-filled image on the k-space grid, ``mask``
    (W,) or (B, W) sampled columns (bool or 0/1) → (B, 1, H, W) magnitude. Training, inference
    (:class:`MaskBound`) and the benchmarks drive every subclass the same way.
    """

    def complex_output(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The data-consistent complex image y (B, H, W), complex64."""
        raise NotImplementedError

    def inner_networks(self) -> list[nn.Module]:
        """The image networks whose zero-initialised ``head`` makes the untrained model zero-filled."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """|y| as (B, 1, H, W) float32."""
        return self.complex_output(x, mask).abs()[:, None]


class DataConsistentReconstruction(DataConsistentNetwork):
    """Zero-filled image + zero-initialised correction, measured k-space columns restored (module docstring)."""

    def __init__(self, config: DataConsistencyConfig):
        super().__init__()
        self.config = config
        self.net = build_model(config.inner, 2, 2, **config.inner_config)
        zero_head(self.net, "recon_dc", config.inner)

    def complex_output(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The data-consistent complex image y (B, H, W), complex64."""
        check_image_batch(x, 2, "recon_dc")
        sampled = column_mask(mask.to(x.device), x.shape[0], x.shape[-1], "recon_dc")
        with torch.autocast(device_type=x.device.type, enabled=False):
            image = torch.complex(x[:, 0].float(), x[:, 1].float())
        if self.config.start == ZERO_FILLED_START:
            return add_unmeasured(image, self.net(x), sampled)
        start = self.compressed_sensing_start(image, sampled)
        correction = self.net(torch.stack([start.real, start.imag], dim=1).to(x.dtype))
        return add_unmeasured(start, correction, sampled)

    def compressed_sensing_start(self, zero_filled: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
        """DC(s): the compressed-sensing image of each slice with its measured columns put back (complex64)."""
        params = self.config.start_params
        with torch.no_grad(), torch.autocast(device_type=zero_filled.device.type, enabled=False):
            # lam is relative to the largest zero-filled magnitude, as the classical method takes it
            scale = zero_filled.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
            data = MeasuredKSpace(fft2c(zero_filled / scale) * sampled, sampled)
            solved = solve(data, get_method(self.config.start).regulariser, params["lam"], params["iterations"])
            return data.consistent(solved) * scale

    def inner_networks(self) -> list[nn.Module]:
        """The one correction network."""
        return [self.net]


class MaskBound(nn.Module):
    """A data-consistency model with one volume's column mask fixed, so it runs as ``model(x)``.

    Inference runs every slice of a volume with the same mask; binding it lets the slice engine drive the
    model like any other network (batching, devices, out-of-memory fallback) without knowing about masks.
    """

    def __init__(self, model: DataConsistentNetwork, mask: Any):
        super().__init__()
        self.model = model
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32).reshape(-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, H, W) → (B, 1, H, W) with the bound mask."""
        return self.model(x, self.mask)


def is_data_consistent(name_or_model: str | nn.Module) -> bool:
    """True for the registry name of a data-consistency model (one built as a :class:`DataConsistentNetwork`:
    ``recon_dc``, ``recon_unrolled``), or such a model (bound or not)."""
    if isinstance(name_or_model, str):
        builder = get_model_spec(name_or_model).builder
        return isinstance(builder, type) and issubclass(builder, DataConsistentNetwork)
    return isinstance(name_or_model, (DataConsistentNetwork, MaskBound))


register_model(
    "recon_dc",
    DataConsistencyConfig,
    DataConsistentReconstruction,
    description="reconstruction default: complex zero-filled + zero-initialised correction (inner network), "
    "measured k-space columns restored (data consistency)",
    tasks=("reconstruction",),
)
