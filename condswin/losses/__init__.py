"""Training losses in one place, built by name with :func:`build_loss`.

=============  ==========================================  ==================================
name           class                                       call
=============  ==========================================  ==================================
``mse``        :class:`torch.nn.MSELoss`                   ``loss(pred, target)``
``l1``         :class:`torch.nn.L1Loss`                    ``loss(pred, target)``
``masked_mse`` :class:`MaskedMSELoss`                      ``loss(pred, target, mask=None)``
``masked_l1``  :class:`MaskedL1Loss`                       ``loss(pred, target, mask=None)``
``ssim``       :class:`SSIMLoss` (fastMRI's SSIM)          ``loss(pred, target, data_range)``
``ssim_l1``    :class:`SSIML1Loss` (0.84 SSIM + 0.16 L1)   ``loss(pred, target, data_range)``
``ssim_l1_noise`` :class:`SSIML1Loss`, each sample weighted  ``loss(pred, target, data_range, weights)``
              by its noise level (denoising; the weights
              come from the task module)
``cross_entropy`` :class:`torch.nn.CrossEntropyLoss`       ``loss(logits, labels)``
``dice_ce``    :class:`DiceCrossEntropyLoss` (MONAI)       ``loss(logits, labels)``
``dice_ce_batch`` :class:`DiceCrossEntropyLoss`, one Dice   ``loss(logits, labels)``
              per class over the whole batch (rare classes)
``perceptual`` :class:`VGGPerceptualLoss` (local weights)  ``loss(pred, target)``
=============  ==========================================  ==================================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from condswin.errors import UsageError
from condswin.lookup import look_up
from condswin.losses.masked import MaskedL1Loss, MaskedMSELoss, foreground_mask, masked_l1_loss, masked_mse_loss
from condswin.losses.perceptual import VGGPerceptualLoss, WeightsNotFoundError
from condswin.losses.segmentation import DiceCrossEntropyLoss
from condswin.losses.ssim import SSIML1Loss, SSIMLoss, ssim_map

__all__ = [
    "build_loss",
    "list_losses",
    "MaskedMSELoss",
    "MaskedL1Loss",
    "masked_mse_loss",
    "masked_l1_loss",
    "foreground_mask",
    "SSIMLoss",
    "SSIML1Loss",
    "ssim_map",
    "DiceCrossEntropyLoss",
    "VGGPerceptualLoss",
    "WeightsNotFoundError",
]

_LOSSES: dict[str, Callable[..., nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "masked_mse": MaskedMSELoss,
    "masked_l1": MaskedL1Loss,
    "ssim": SSIMLoss,
    "ssim_l1": SSIML1Loss,
    "ssim_l1_noise": SSIML1Loss,
    "cross_entropy": nn.CrossEntropyLoss,
    "dice_ce": DiceCrossEntropyLoss,
    "dice_ce_batch": partial(DiceCrossEntropyLoss, batch_dice=True),
    "perceptual": VGGPerceptualLoss,
}


def list_losses() -> list[str]:
    """Names accepted by :func:`build_loss`, sorted."""
    return sorted(_LOSSES)


def build_loss(name: str, **kwargs: Any) -> nn.Module:
    """The loss ``name`` built with ``kwargs`` (see the table in the module docstring for call signatures).

    Raises:
        UsageError: unknown name or keyword (a ``ValueError``).
    """
    loss_class = look_up("loss", name, dict(sorted(_LOSSES.items())))
    try:
        return loss_class(**kwargs)
    except TypeError as exc:
        raise UsageError(f"loss {name!r}: bad arguments {sorted(kwargs)} ({exc})") from exc
