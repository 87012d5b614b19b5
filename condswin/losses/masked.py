"""Pixel losses restricted to a mask: the Conditional Swin U-Net notebook trains reconstruction on the image
foreground only.

Averaging over the masked pixels (not over all pixels) keeps the loss scale independent of how much of
the field of view is air, so learning rates carry over between anatomies and crops.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["masked_mse_loss", "masked_l1_loss", "MaskedMSELoss", "MaskedL1Loss", "foreground_mask"]


def _masked_mean(err: torch.Tensor, mask: torch.Tensor | None, loss_name: str) -> torch.Tensor:
    if mask is None:
        return err.mean()
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{loss_name}: mask must be a tensor, got {type(mask).__name__}")
    try:
        weights = torch.broadcast_to(mask.to(err.dtype), err.shape)
    except RuntimeError:
        raise ValueError(
            f"{loss_name}: mask of shape {tuple(mask.shape)} does not broadcast to the prediction {tuple(err.shape)}"
        ) from None
    if bool((weights < 0).any()):
        raise ValueError(f"{loss_name}: mask weights must be non-negative")
    total = weights.sum()
    if total == 0:
        # An all-background batch carries no signal: a zero that still belongs to the graph.
        return (err * weights).sum()
    return (err * weights).sum() / total


def _check_pair(pred: torch.Tensor, target: torch.Tensor, loss_name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{loss_name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape"
        )


def masked_mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over the pixels where ``mask`` is set (weighted by it when it is not boolean).

    Args:
        pred: prediction of any shape.
        target: same shape as ``pred``.
        mask: boolean or non-negative weights broadcastable to ``pred``; ``None`` averages everything.

    Returns:
        Scalar loss; zero (with a graph) when the mask is empty.
    """
    _check_pair(pred, target, "masked_mse_loss")
    return _masked_mean((pred - target).square(), mask, "masked_mse_loss")


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error over the pixels where ``mask`` is set (see :func:`masked_mse_loss`)."""
    _check_pair(pred, target, "masked_l1_loss")
    return _masked_mean((pred - target).abs(), mask, "masked_l1_loss")


class MaskedMSELoss(nn.Module):
    """Module form of :func:`masked_mse_loss`: ``loss(pred, target, mask=None)``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mse_loss(pred, target, mask)


class MaskedL1Loss(nn.Module):
    """Module form of :func:`masked_l1_loss`: ``loss(pred, target, mask=None)``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_l1_loss(pred, target, mask)


def foreground_mask(image: torch.Tensor, relative_threshold: float = 0.05) -> torch.Tensor:
    """Boolean mask of the pixels brighter than ``relative_threshold`` × the maximum of their image.

    Args:
        image: (B, C, H, W) target magnitudes; the maximum is taken per sample over C, H, W.
        relative_threshold: fraction of the per-sample maximum of ``|image|``, in [0, 1).

    Returns:
        Boolean tensor of ``image``'s shape.
    """
    if image.ndim != 4:
        raise ValueError(f"foreground_mask: expected (B, C, H, W), got shape {tuple(image.shape)}")
    if not 0.0 <= relative_threshold < 1.0:
        raise ValueError(f"foreground_mask: relative_threshold must be in [0, 1), got {relative_threshold}")
    magnitude = image.abs()
    peak = magnitude.amax(dim=(1, 2, 3), keepdim=True)
    return magnitude > relative_threshold * peak
