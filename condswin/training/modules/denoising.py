"""MR denoising: noisy magnitude slice in (Gaussian or Rician noise), clean slice out."""

from __future__ import annotations

from condswin.training.modules.image import ImageTaskModule

__all__ = ["DenoisingModule"]


class DenoisingModule(ImageTaskModule):
    """Noisy slice → clean slice.

    Loss: L1 (``optim.loss`` may pick MSE, SSIM or a foreground-masked form). Validation per volume: PSNR
    and SSIM with the clean volume's maximum as data range; ``val_ssim`` is monitored.
    """

    task = "denoising"
    default_loss = "l1"
    metrics = ("psnr", "ssim")
