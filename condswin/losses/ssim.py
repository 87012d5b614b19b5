"""SSIM loss exactly as fastMRI evaluates SSIM: 7×7 uniform window, K1 0.01, K2 0.03, sample covariance.

Wang et al. 2004 define SSIM from local means, variances and covariance. fastMRI (Zbontar et al. 2018)
computes them with a 7×7 box filter over the valid region (no padding) and corrects the variances to
the unbiased sample estimate (× N/(N−1), N = 49) — the same as scikit-image's ``structural_similarity``
with ``win_size=7, use_sample_covariance=True, gaussian_weights=False`` and an explicit ``data_range``.
MONAI's SSIM defaults differ (Gaussian window), hence this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SSIMLoss", "SSIML1Loss", "ssim_map", "weighted_mean"]


def ssim_map(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float | torch.Tensor,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Local SSIM of every valid 7×7 window, per channel.

    Args:
        pred: (B, C, H, W).
        target: (B, C, H, W).
        data_range: a float, or a (B,) tensor with one range per sample (fastMRI uses target.max()).
        win_size: side of the uniform window.
        k1: luminance constant factor.
        k2: contrast constant factor.

    Returns:
        (B, C, H − win_size + 1, W − win_size + 1) SSIM values, in float32 (or float64 for float64 input).

    Always computed in full precision, also inside an autocast region (a bf16-mixed training step): the variances
    are differences of nearly equal local means, E[x²] − E[x]², and with the window convolutions in bf16 (8 bits
    of mantissa) they come out as rounding noise — SSIM values up to 1.3 for a 1 %-noise pair, and a loss that
    rewards nonsense.
    """
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return _ssim_map(pred, target, data_range, win_size, k1, k2)


def _ssim_map(
    pred: torch.Tensor, target: torch.Tensor, data_range: float | torch.Tensor, win_size: int, k1: float, k2: float
) -> torch.Tensor:
    if pred.dtype != torch.float64 or target.dtype != torch.float64:
        pred, target = pred.float(), target.float()
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(
            f"ssim: expected two (B, C, H, W) tensors of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if min(pred.shape[-2:]) < win_size:
        raise ValueError(
            f"ssim: images of {tuple(pred.shape[-2:])} px are smaller than the {win_size}×{win_size} window"
        )
    b, c = pred.shape[:2]
    data_range = torch.as_tensor(data_range, dtype=pred.dtype, device=pred.device)
    if data_range.ndim == 0:
        data_range = data_range.expand(b)
    if data_range.shape != (b,):
        raise ValueError(f"ssim: data_range must be a scalar or have shape ({b},), got {tuple(data_range.shape)}")
    if bool((data_range <= 0).any()):
        raise ValueError("ssim: data_range must be positive")
    data_range = data_range.view(b, 1, 1, 1)
    window = torch.full((c, 1, win_size, win_size), 1.0 / win_size**2, dtype=pred.dtype, device=pred.device)
    n = win_size**2
    cov_norm = n / (n - 1)  # unbiased (sample) variance, as fastMRI and skimage's use_sample_covariance

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)

    ux, uy = local_mean(pred), local_mean(target)
    vx = cov_norm * (local_mean(pred * pred) - ux * ux)
    vy = cov_norm * (local_mean(target * target) - uy * uy)
    vxy = cov_norm * (local_mean(pred * target) - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Batch mean of (B,) per-sample ``losses``, each multiplied by its weight first (None: all 1).

    The weights are not normalised: a batch of heavily weighted samples counts for more than another batch,
    which is the point of weighting by a property of the sample (such as its noise level) rather than by its
    place in the batch.
    """
    if weights is None:
        return losses.mean()
    if weights.shape != losses.shape:
        raise ValueError(f"loss weights: expected shape {tuple(losses.shape)}, got {tuple(weights.shape)}")
    return (losses * weights.to(losses.dtype).detach()).mean()


class SSIMLoss(nn.Module):
    """1 − mean SSIM (fastMRI's definition); ``loss(pred, target, data_range)``.

    Args:
        win_size: side of the uniform window (7 in fastMRI).
        k1: luminance constant factor (0.01).
        k2: contrast constant factor (0.03).
    """

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
        super().__init__()
        self.win_size, self.k1, self.k2 = win_size, k1, k2

    def per_sample(self, pred: torch.Tensor, target: torch.Tensor, data_range: float | torch.Tensor) -> torch.Tensor:
        """(B,) losses: 1 − each sample's mean SSIM."""
        return 1.0 - ssim_map(pred, target, data_range, self.win_size, self.k1, self.k2).mean(dim=(1, 2, 3))

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        data_range: float | torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar loss; ``data_range`` is a float or a (B,) tensor (e.g. ``target.amax(dim=(1, 2, 3))``);
        ``weights`` (B,) multiply each sample's loss before the batch mean (see :func:`weighted_mean`)."""
        return weighted_mean(self.per_sample(pred, target, data_range), weights)


class SSIML1Loss(nn.Module):
    """``alpha`` × (1 − mean SSIM) + (1 − ``alpha``) × L1 (Zhao et al. 2017, "Loss functions for image
    restoration with neural networks": 0.84): SSIM for the local structure and for flat regions held at their
    level (a background left a few percent too bright costs SSIM much more than L1), L1 for the intensities
    SSIM is blind to. ``loss(pred, target, data_range)``.

    Args:
        alpha: weight of the SSIM term, in [0, 1].
        win_size: side of the uniform window (7 in fastMRI).
    """

    def __init__(self, alpha: float = 0.84, win_size: int = 7):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ssim_l1: alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.ssim = SSIMLoss(win_size)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        data_range: float | torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar loss; ``data_range`` and ``weights`` as for :class:`SSIMLoss` (the range does not scale the
        L1 term; the weights multiply both terms of each sample)."""
        l1 = (pred - target).abs().mean(dim=tuple(range(1, pred.ndim)))
        losses = self.alpha * self.ssim.per_sample(pred, target, data_range) + (1.0 - self.alpha) * l1
        return weighted_mean(losses, weights)
