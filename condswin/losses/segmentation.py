"""Dice + cross-entropy for segmentation logits, on top of MONAI's ``DiceCELoss``.

MONAI does the loss arithmetic (soft Dice with smoothing, CE or BCE); this wrapper fixes the conventions
used across the project — logits in, integer label maps out of the data pipeline — and turns silent
mistakes (labels outside the class range, wrong shapes) into clear errors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["DiceCrossEntropyLoss"]


class DiceCrossEntropyLoss(nn.Module):
    """λ_dice · soft Dice + λ_ce · cross-entropy on logits.

    Multi-class logits (C ≥ 2) use softmax and categorical CE with labels 0…C−1; one-channel logits are a
    binary problem (sigmoid, binary CE, labels 0/1).

    Args:
        include_background: count class 0 in the Dice term (multi-class only; CE always sees it).
        lambda_dice: weight of the Dice term.
        lambda_ce: weight of the cross-entropy term.
        smooth: added to Dice numerator and denominator so empty classes do not divide by zero.
        batch_dice: one Dice per class over the whole batch rather than one per slice. Per slice, a class absent
            from the slice's labels scores Dice ≈ 0 (loss ≈ 1) for *any* predicted probability of it — even
            0.01 summed over the slice — so most slices of a rare class (a tumour is absent from most slices)
            teach the network never to predict it; over the batch, those probabilities count as the few false
            positive pixels they are (the "batch Dice" of nnU-Net).
    """

    def __init__(
        self,
        include_background: bool = True,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 1e-5,
        batch_dice: bool = False,
    ):
        super().__init__()
        if lambda_dice < 0 or lambda_ce < 0 or lambda_dice + lambda_ce == 0:
            raise ValueError(f"dice_ce: weights must be non-negative and not both zero, got {lambda_dice}, {lambda_ce}")
        from monai.losses import DiceCELoss  # imported here: MONAI is slow to import and only training needs it

        common: dict[str, Any] = dict(
            lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth_nr=smooth, smooth_dr=smooth, batch=batch_dice
        )
        self.multiclass = DiceCELoss(softmax=True, to_onehot_y=True, include_background=include_background, **common)
        self.binary = DiceCELoss(sigmoid=True, **common)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar loss.

        Args:
            logits: (B, C, H, W) raw network output.
            labels: (B, H, W) or (B, 1, H, W) integer class indices.
        """
        if logits.ndim != 4:
            raise ValueError(f"dice_ce: expected logits (B, C, H, W), got shape {tuple(logits.shape)}")
        if labels.ndim == 3:
            labels = labels[:, None]
        if (
            labels.ndim != 4
            or labels.shape[1] != 1
            or labels.shape[0] != logits.shape[0]
            or labels.shape[2:] != logits.shape[2:]
        ):
            raise ValueError(
                f"dice_ce: labels of shape {tuple(labels.shape)} do not match logits {tuple(logits.shape)}; "
                "expected (B, H, W) or (B, 1, H, W) class indices"
            )
        if labels.is_floating_point() and not bool((labels == labels.round()).all()):
            raise ValueError("dice_ce: labels must be integer class indices, got non-integer values")
        num_classes = max(logits.shape[1], 2)
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"dice_ce: labels must lie in 0…{num_classes - 1}, got values in {low}…{high}")
        target = labels.to(logits.dtype)
        return self.binary(logits, target) if logits.shape[1] == 1 else self.multiclass(logits, target)
