"""An unrolled reconstruction: K cascades of a small image network, each followed by data consistency.

The model follows "MoDL: Model-Based Deep Learning Architecture for Inverse Problems" (one network shared by
every cascade) and the single-coil form of "End-to-End Variational Networks for Accelerated MRI
Reconstruction" (a network per cascade); ``share_weights`` picks between them. Starting from the normalised
complex zero-filled image ``x₀ = x`` (2 channels: real, imaginary, on the k-space grid) and the sampled-column
mask ``m``, cascade ``i`` refines the current estimate with its network ``fᵢ`` as a residual and puts the measured
k-space back on the sampled columns (hard data consistency):

    xᵢ₊₁ = IFFT2c(DC(FFT2c(xᵢ + fᵢ(xᵢ)), k, m)) = xᵢ + IFFT2c((1 − m) · FFT2c(fᵢ(xᵢ)))

with ``k`` the measured k-space. The two forms are equal because every ``xᵢ`` already holds ``k`` on the sampled
columns (``x₀`` is the zero-filled image of ``k``, and each step keeps it); the model computes the second with
the toolkit's data consistency (:func:`condswin.mri.kspace.data_consistency`, through
:func:`condswin.models.data_consistency.add_unmeasured`), so a cascade whose network outputs zero leaves its
estimate unchanged bit for bit. Every network's last layer (``head``) starts at zero: the untrained model returns
``|x|``, the zero-filled reconstruction itself, and training can only move it away from there. The output is
``|x_K|`` as one channel, in the input's normalised units. One cascade is ``recon_dc``'s computation.

Why hard replacement rather than VarNet's learned soft weight ``xᵢ − ηᵢ · IFFT2c(m · (FFT2c(xᵢ) − k))``: the
reconstruction default promises that the measured lines come back exactly (a test holds every data-consistency
model to it), which a finite weight gives up, and hard replacement keeps the untrained model exactly zero-filled
whatever is learned elsewhere. What it costs: the measurement noise on the sampled columns stays in the image,
where a learned weight could average some of it away; that matters when noise, not the aliasing of the unsampled
columns, dominates the error, which undersampling at 4× and 8× makes the exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from condswin.models.data_consistency import (
    DataConsistentNetwork,
    add_unmeasured,
    check_data_consistent_config,
    column_mask,
)
from condswin.models.heads import zero_head
from condswin.models.registry import build_model, register_model
from condswin.models.validation import check_image_batch

__all__ = ["UnrolledConfig", "UnrolledReconstruction"]


@dataclass
class UnrolledConfig:
    """Hyper-parameters of :class:`UnrolledReconstruction`.

    Attributes:
        in_channels: must be 2 (the complex zero-filled image as real and imaginary channels).
        out_channels: must be 1 (the magnitude of the last cascade's data-consistent image).
        inner: registry name of each cascade's network (built with 2 in / 2 out channels, a ``head`` Conv2d).
        inner_config: overrides of the inner network's config (JSON-able: they are stored in the model card).
        cascades: refinement + data-consistency steps, K.
        share_weights: one network for every cascade (MoDL) instead of one per cascade (VarNet): K times fewer
            parameters for the same computation.
    """

    in_channels: int = 2
    out_channels: int = 1
    inner: str = "cswin_light_1l"
    inner_config: dict[str, Any] = field(default_factory=dict)
    cascades: int = 4
    share_weights: bool = False

    def __post_init__(self) -> None:
        check_data_consistent_config("recon_unrolled", self.in_channels, self.out_channels, self.inner)
        if isinstance(self.cascades, bool) or not isinstance(self.cascades, int) or self.cascades < 1:
            raise ValueError(f"recon_unrolled: cascades must be a positive integer, got {self.cascades!r}")
        if not isinstance(self.share_weights, bool):
            raise ValueError(f"recon_unrolled: share_weights must be true or false, got {self.share_weights!r}")
        self.inner_config = dict(self.inner_config)  # a card gives a read-only mapping back


class UnrolledReconstruction(DataConsistentNetwork):
    """K residual refinements of the complex estimate, each followed by hard data consistency (module docstring).

    ``forward(x, mask)``: ``x`` (B, 2, H, W) normalised complex zero-filled image on the k-space grid, ``mask``
    (W,) or (B, W) sampled columns (bool or 0/1) → (B, 1, H, W) magnitude.
    """

    def __init__(self, config: UnrolledConfig):
        super().__init__()
        self.config = config
        count = 1 if config.share_weights else config.cascades
        self.nets = nn.ModuleList(build_model(config.inner, 2, 2, **config.inner_config) for _ in range(count))
        for net in self.nets:
            zero_head(net, "recon_unrolled", config.inner)

    def cascade_networks(self) -> list[nn.Module]:
        """The network of each cascade in order (the same one K times when weights are shared)."""
        return [self.nets[0 if self.config.share_weights else i] for i in range(self.config.cascades)]

    def complex_output(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last cascade's data-consistent complex image (B, H, W), complex64."""
        check_image_batch(x, 2, "recon_unrolled")
        sampled = column_mask(mask.to(x.device), x.shape[0], x.shape[-1], "recon_unrolled")
        with torch.autocast(device_type=x.device.type, enabled=False):
            estimate = torch.complex(x[:, 0].float(), x[:, 1].float())
        channels = x
        for net in self.cascade_networks():
            estimate = add_unmeasured(estimate, net(channels), sampled)
            channels = torch.stack([estimate.real, estimate.imag], dim=1)
        return estimate

    def inner_networks(self) -> list[nn.Module]:
        """The distinct networks (one when weights are shared, else one per cascade)."""
        return list(self.nets)


register_model(
    "recon_unrolled",
    UnrolledConfig,
    UnrolledReconstruction,
    description="unrolled reconstruction: K cascades of a zero-initialised residual network (inner) on the "
    "complex estimate, each followed by data consistency (measured k-space columns restored)",
    tasks=("reconstruction",),
)
