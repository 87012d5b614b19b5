"""Liver and tumour segmentation: Dice + cross-entropy on logits, Dice per class and volume in validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from condswin.lits import LITS_CLASSES
from condswin.metrics.aggregate import mark_absent
from condswin.metrics.segmentation import segmentation_metrics
from condswin.training.modules.base import TaskModule
from condswin.training.modules.volumes import to_numpy

__all__ = ["SegmentationModule"]


class SegmentationModule(TaskModule):
    """Segmentation of CT slices into background and classes 1…C−1 (LiTS: 1 liver, 2 tumour).

    Validation: each volume's argmax label map against its reference, per class (``label == value``, so
    tumour voxels do not count as liver), with :func:`condswin.metrics.segmentation_metrics`; logs
    ``val_dice_<class>``, ``val_iou_<class>`` and their class mean ``val_dice`` (the monitored metric).
    """

    task = "segmentation"
    monitor = "val_dice"
    monitor_mode = "max"
    default_loss = "dice_ce"
    losses = ("dice_ce", "dice_ce_batch", "cross_entropy")

    def __init__(self, config: Any, in_channels: int, out_channels: int):
        super().__init__(config, in_channels, out_channels)
        self.class_names = {v: LITS_CLASSES.get(v, f"class{v}") for v in range(1, self.out_channels)}

    def compute_loss(self, output: torch.Tensor, batch: Any) -> torch.Tensor:
        """Dice + CE (Dice per slice or over the batch; or CE alone) of the logits against the (B, H, W) labels."""
        return self.loss_fn(output.float(), batch.target.long())

    def to_original(self, output: torch.Tensor, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted and reference label maps, (B, H, W) uint8."""
        return to_numpy(output.argmax(dim=1)).astype(np.uint8), to_numpy(batch.target).astype(np.uint8)

    def score_volume(self, pred: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
        """Dice and IoU of every class over the volume; None for a class in neither label map.

        Such a class would score a perfect Dice of 1 (:func:`condswin.metrics.aggregate.mark_absent`), which
        says nothing about the network and would inflate the tumour mean on tumour-free volumes.
        """
        per_class = mark_absent(segmentation_metrics(pred, target, labels=self.class_names, with_hd95=False))
        scores: dict[str, float | None] = {}
        for name, values in per_class.items():
            scores[f"dice_{name}"] = values["dice"]
            scores[f"iou_{name}"] = values["iou"]
        return scores

    def summarise(self, means: dict[str, float]) -> dict[str, float]:
        """Adds ``dice``: the mean of the per-class Dice means (background left out, as the Conditional Swin U-Net
        notebook reports it); classes absent from every volume (NaN means) are left out."""
        dices = [means.get(f"dice_{name}", float("nan")) for name in self.class_names.values()]
        finite = [d for d in dices if np.isfinite(d)]
        return {**means, "dice": float(np.mean(finite)) if finite else float("nan")}
