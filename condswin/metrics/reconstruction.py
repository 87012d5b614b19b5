"""Reconstruction metrics with fastMRI's definitions (``fastmri/evaluate.py``), evaluated per volume.

- NMSE = ||gt - pred||^2 / ||gt||^2 over the whole volume;
- PSNR = 10 log10(maxval^2 / MSE) over the whole volume, ``maxval = gt.max()`` by default;
- SSIM = mean over slices of the 7x7 uniform-window SSIM (K1 = 0.01, K2 = 0.03, sample covariance,
  borders of 3 pixels left out), data range ``maxval`` — equal to scikit-image's ``structural_similarity``
  slice by slice (computed here with one filter pass over the volume, in float64);
- MAE = mean |gt - pred|.

Inputs are (slices, H, W) magnitude volumes (a single 2-D image is treated as one slice), usually centre-
cropped to 320x320 first (:func:`condswin.mri.kspace.center_crop`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter

from condswin.metrics._arrays import check_pair, to_numpy

__all__ = ["mse", "nmse", "psnr", "ssim", "mae", "reconstruction_metrics"]

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _prepare(gt: Any, pred: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    gt_arr = to_numpy(gt, metric)
    pred_arr = to_numpy(pred, metric)
    check_pair(gt_arr, pred_arr, metric)  # before the cast, which would silently drop imaginary parts
    return gt_arr.astype(np.float64), pred_arr.astype(np.float64)


def _maxval(gt: np.ndarray, maxval: float | None, metric: str) -> float:
    value = float(gt.max()) if maxval is None else float(maxval)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{metric}: data range (maxval) must be positive, got {value} (target max {gt.max()})")
    return value


def mse(gt: Any, pred: Any) -> float:
    """Mean squared error over the whole volume."""
    gt_arr, pred_arr = _prepare(gt, pred, "mse")
    return float(np.mean((gt_arr - pred_arr) ** 2))


def nmse(gt: Any, pred: Any, maxval: float | None = None) -> float:
    """Normalised MSE over the volume: ||gt - pred||^2 / ||gt||^2.

    Args:
        gt: target volume (slices, H, W).
        pred: reconstruction, same shape.
        maxval: unused (accepted so all four metrics share one signature).

    Returns:
        The NMSE (0 is perfect).
    """
    gt_arr, pred_arr = _prepare(gt, pred, "nmse")
    denom = float(np.sum(gt_arr**2))
    if denom == 0:
        raise ValueError("nmse: the target is all zeros, NMSE is undefined")
    return float(np.sum((gt_arr - pred_arr) ** 2) / denom)


def psnr(gt: Any, pred: Any, maxval: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB over the volume.

    Args:
        gt: target volume (slices, H, W).
        pred: reconstruction, same shape.
        maxval: data range; ``gt.max()`` (of the whole volume) when None, as fastMRI does.

    Returns:
        PSNR in dB (``inf`` for identical volumes).
    """
    gt_arr, pred_arr = _prepare(gt, pred, "psnr")
    data_range = _maxval(gt_arr, maxval, "psnr")
    err = float(np.mean((gt_arr - pred_arr) ** 2))
    if err == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err))


def _ssim_map(gt: np.ndarray, pred: np.ndarray, data_range: float) -> np.ndarray:
    """Per-pixel SSIM of every slice, filtering only within slices (window size 1 along the slice axis)."""
    size = (1, SSIM_WINDOW, SSIM_WINDOW)
    n = SSIM_WINDOW**2
    cov_norm = n / (n - 1.0)  # sample covariance, as skimage's use_sample_covariance=True
    mu_x = uniform_filter(gt, size=size)
    mu_y = uniform_filter(pred, size=size)
    var_x = cov_norm * (uniform_filter(gt * gt, size=size) - mu_x * mu_x)
    var_y = cov_norm * (uniform_filter(pred * pred, size=size) - mu_y * mu_y)
    cov_xy = cov_norm * (uniform_filter(gt * pred, size=size) - mu_x * mu_y)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return numerator / denominator


def ssim(gt: Any, pred: Any, maxval: float | None = None) -> float:
    """Structural similarity, fastMRI's definition: the mean over slices of the per-slice SSIM.

    Args:
        gt: target volume (slices, H, W) (or one (H, W) image), H and W at least 7.
        pred: reconstruction, same shape.
        maxval: data range; ``gt.max()`` of the whole volume when None.

    Returns:
        SSIM in [-1, 1] (1 is perfect).
    """
    gt_arr, pred_arr = _prepare(gt, pred, "ssim")
    if gt_arr.ndim == 2:
        gt_arr, pred_arr = gt_arr[None], pred_arr[None]
    if gt_arr.ndim != 3:
        raise ValueError(f"ssim: expected (slices, H, W) or (H, W), got shape {gt_arr.shape}")
    if min(gt_arr.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim: images must be at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {gt_arr.shape[-2:]}")
    data_range = _maxval(gt_arr, maxval, "ssim")
    pad = (SSIM_WINDOW - 1) // 2
    ssim_map = _ssim_map(gt_arr, pred_arr, data_range)[:, pad:-pad, pad:-pad]
    return float(ssim_map.mean(axis=(1, 2)).mean())


def mae(gt: Any, pred: Any, maxval: float | None = None) -> float:
    """Mean absolute error over the volume (``maxval`` unused; accepted for a uniform signature)."""
    gt_arr, pred_arr = _prepare(gt, pred, "mae")
    return float(np.mean(np.abs(gt_arr - pred_arr)))


def reconstruction_metrics(gt: Any, pred: Any, maxval: float | None = None) -> dict[str, float]:
    """NMSE, PSNR, SSIM and MAE of one volume, as a dict with those lower-case keys.

    Args:
        gt: target volume (slices, H, W).
        pred: reconstruction, same shape.
        maxval: data range for PSNR and SSIM (``gt.max()`` when None).

    Returns:
        ``{"nmse": ..., "psnr": ..., "ssim": ..., "mae": ...}``.
    """
    return {
        "nmse": nmse(gt, pred),
        "psnr": psnr(gt, pred, maxval),
        "ssim": ssim(gt, pred, maxval),
        "mae": mae(gt, pred),
    }
