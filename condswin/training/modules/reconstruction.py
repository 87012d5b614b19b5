"""MRI reconstruction: undersampled (zero-filled) slice in, fully sampled magnitude out."""

from __future__ import annotations

from condswin.training.modules.image import ImageTaskModule

__all__ = ["ReconstructionModule"]


class ReconstructionModule(ImageTaskModule):
    """Zero-filled magnitude (or complex, 2 channels) → reference magnitude.

    Loss: MSE, the seed's choice (``optim.loss`` may pick L1, SSIM or their foreground-masked forms).
    Validation per volume: NMSE, PSNR and SSIM as fastMRI defines them; ``val_ssim`` is monitored.
    """

    task = "reconstruction"
    default_loss = "mse"
    metrics = ("nmse", "psnr", "ssim")
