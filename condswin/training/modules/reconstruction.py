"""MRI reconstruction: undersampled (zero-filled) slice in, fully sampled magnitude out."""

from __future__ import annotations

from typing import Any

import torch

from condswin.models.data_consistency import is_data_consistent
from condswin.training.modules.image import ImageTaskModule

__all__ = ["ReconstructionModule"]


def _center_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Centre (h, w) of (..., H, W), placed as :func:`condswin.mri.kspace.center_crop` places it."""
    top = (x.shape[-2] - shape[0]) // 2
    left = (x.shape[-1] - shape[1]) // 2
    return x[..., top : top + shape[0], left : left + shape[1]]


class ReconstructionModule(ImageTaskModule):
    """Zero-filled magnitude (or complex, 2 channels) → reference magnitude.

    A data-consistency network (:mod:`condswin.models.data_consistency`) also gets the batch's column masks;
    it works on the k-space grid, so its magnitude is centre-cropped to the target's size (fastMRI: 640×368
    k-space, 320×320 target) before the loss and the metrics, as inference crops it.

    Loss: MSE, the Conditional Swin U-Net notebook's choice (``optim.loss`` may pick L1, SSIM or their
    foreground-masked forms).
    Validation per volume: NMSE, PSNR and SSIM as fastMRI defines them; ``val_ssim`` is monitored.
    """

    task = "reconstruction"
    default_loss = "mse"
    metrics = ("nmse", "psnr", "ssim")

    def network_output(self, batch: Any) -> torch.Tensor:
        """The network's output on the target's grid (a data-consistency network gets the masks too)."""
        if not is_data_consistent(self.net):
            return self.net(batch.image)
        if batch.mask.ndim != 2 or batch.mask.shape[-1] != batch.image.shape[-1]:
            raise ValueError(
                f"a data-consistency model needs each sample's column mask of width {batch.image.shape[-1]}, "
                f"got masks of shape {tuple(batch.mask.shape)}"
            )
        output = self.net(batch.image, batch.mask)
        return _center_crop(output, tuple(batch.target.shape[-2:]))
