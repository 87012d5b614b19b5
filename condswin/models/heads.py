"""Starting a wrapped network's output at exactly zero, for the wrappers whose untrained form must be a baseline.

``recon_dc`` and ``recon_unrolled`` (zero correction: zero-filled) and ``residual_denoiser`` (zero predicted noise:
the identity) zero their inner networks' last layer, the ``head`` convolution, so training can only move them away
from the baseline they start as.
"""

from __future__ import annotations

from torch import nn

__all__ = ["zero_head"]


def zero_head(net: nn.Module, owner: str, inner: str) -> None:
    """Zero ``net.head`` (weight and bias) so the network outputs exactly zero at initialisation.

    Raises:
        ValueError: ``net`` has no ``head`` Conv2d (naming the wrapper ``owner`` and the ``inner`` network).
    """
    head = getattr(net, "head", None)
    if not isinstance(head, nn.Conv2d):
        raise ValueError(f"{owner}: inner network {inner!r} has no 'head' Conv2d to start its output at zero")
    nn.init.zeros_(head.weight)
    if head.bias is not None:
        nn.init.zeros_(head.bias)
