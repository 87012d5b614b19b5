"""Input checks shared by every network: clear errors instead of shape mismatches deep inside a model."""

from __future__ import annotations

import torch

__all__ = ["check_image_batch"]


def check_image_batch(x: torch.Tensor, in_channels: int, model_name: str, check_finite: bool = False) -> None:
    """Raise ``ValueError`` unless ``x`` is a (batch, in_channels, H, W) floating tensor.

    Args:
        x: the network input.
        in_channels: the channel count the network was built for.
        model_name: used in the message so the user knows which model refused the input.
        check_finite: also refuse NaN/inf (costs a full pass over the input; on in debug mode).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{model_name}: expected a torch.Tensor of shape (batch, {in_channels}, H, W), got {type(x).__name__}"
        )
    if x.ndim != 4:
        raise ValueError(
            f"{model_name}: expected a 4-D tensor (batch, {in_channels}, H, W), got {x.ndim}-D shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{model_name}: expected {in_channels} input channel(s), got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    if not x.is_floating_point():
        raise ValueError(f"{model_name}: expected a floating-point tensor, got dtype {x.dtype}")
    if check_finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{model_name}: input contains NaN or infinite values")
