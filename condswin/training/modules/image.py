"""Image-to-image tasks (reconstruction, denoising): regression losses and fastMRI metrics per volume."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from condswin.losses import foreground_mask
from condswin.metrics.reconstruction import nmse, psnr, ssim
from condswin.mri.kspace import center_crop
from condswin.training.modules.base import TaskModule
from condswin.training.modules.volumes import to_numpy

__all__ = ["ImageTaskModule", "METRIC_CROP", "ssim_data_range"]

# fastMRI's evaluation scores the central 320×320 of each slice; smaller slices are scored whole.
METRIC_CROP = 320


def ssim_data_range(target: torch.Tensor) -> torch.Tensor:
    """The SSIM range of each (B, C, H, W) normalised target: its maximum, but at least 1.

    The evaluation takes the range of the whole volume (its maximum, about the upper percentile that the
    normalisation maps to 1). A training window's own maximum is far smaller where it holds little but
    background, and a range near zero makes SSIM's constants vanish there: the loss would turn on the noise
    of empty windows. At least 1 keeps each window on the scale the volume is scored on.
    """
    return target.detach().amax(dim=(1, 2, 3)).clamp_min(1.0)


class ImageTaskModule(TaskModule):
    """Predicts an image in the normalised units of the input's target; scored in original units.

    The target of a sample is normalised (``target * scale + offset`` gives original units), so the network
    learns the same mapping inference applies (:class:`condswin.inference.SliceEngine` multiplies the
    output back with the slice's scale and offset).
    """

    monitor = "val_ssim"
    monitor_mode = "max"
    losses: ClassVar[tuple[str, ...]] = ("mse", "l1", "masked_mse", "masked_l1", "ssim", "ssim_l1")
    metrics: ClassVar[tuple[str, ...]] = ("psnr", "ssim")

    def compute_loss(self, output: torch.Tensor, batch: Any) -> torch.Tensor:
        """The configured regression loss; masked losses use the target's foreground, the SSIM losses a data
        range per sample of at least 1 (see :func:`ssim_data_range`)."""
        pred, target = output.float(), batch.target.float()
        if self.loss_name in ("masked_mse", "masked_l1"):
            return self.loss_fn(pred, target, mask=foreground_mask(target))
        if self.loss_name in ("ssim", "ssim_l1"):
            return self.loss_fn(pred, target, ssim_data_range(target))
        return self.loss_fn(pred, target)

    def to_original(self, output: torch.Tensor, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """(B, h, w) prediction and target in original units, centre-cropped to at most 320×320."""
        scale = batch.scale.to(torch.float64).view(-1, 1, 1, 1)
        offset = batch.offset.to(torch.float64).view(-1, 1, 1, 1)
        pred = to_numpy(output[:, :1].double() * scale + offset)[:, 0]
        target = to_numpy(batch.target[:, :1].double() * scale + offset)[:, 0]
        crop = (min(METRIC_CROP, pred.shape[-2]), min(METRIC_CROP, pred.shape[-1]))
        return (
            np.ascontiguousarray(center_crop(pred, crop), dtype=np.float32),
            np.ascontiguousarray(center_crop(target, crop), dtype=np.float32),
        )

    def score_volume(self, pred: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
        """fastMRI's volume metrics (data range: the target volume's maximum)."""
        functions = {"nmse": nmse, "psnr": psnr, "ssim": ssim}
        return {name: functions[name](target, pred) for name in self.metrics}
