"""``denoise``: one call for every classical method, slice-wise on volumes, Gaussian or Rician noise model.

Order of operations (the same for every method):

1. Check the input and σ; when σ is not given and needed, estimate it once for the whole volume (noise is a
   property of the acquisition, and pooling slices steadies the estimate):
   ``noise="gaussian"``: median over slices of scikit-image's wavelet estimate (``estimate_sigma``);
   ``noise="rician"``: the air-background estimate ``condswin.mri.noise.estimate_rician_sigma``, because a
   Gaussian estimator under-estimates Rician noise (by about a quarter on a brain slice).
2. Scale the volume to [0, 1] (zero stays zero for non-negative data) so that every σ-driven parameter is a
   factor times σ whatever the scanner's units; run the method slice by slice; scale back.
3. ``noise="rician"``: apply the bias correction √max(u² − 2σ², 0) to the **filter output**. The correction
   inverts E[M²] = A² + 2σ², a statement about local averages, which is what the filter output is. Applied to
   single noisy pixels first, it would clip about half of the air to zero and hand the filter a clipped,
   non-Gaussian input whose noise level is no longer σ. The gain is in the air and in low-SNR tissue, where the
   Rician floor dominates; at high SNR the correction over-corrects by about σ²/(2A), as much as the bias it
   removes (see ``rician_bias_correction``).
   For ``clahe``, a contrast remapping whose output is not in signal units, the correction is applied to the
   input instead, the last point at which intensities still mean signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from skimage.restoration import estimate_sigma

from condswin.denoise.methods import check_parameters, get_method
from condswin.denoise_names import NOISE_MODELS
from condswin.mri.noise import NoiseEstimateError, estimate_rician_sigma, rician_bias_correction

__all__ = ["denoise", "estimate_noise_sigma", "NOISE_MODELS"]

ProgressCallback = Callable[[int, int], None]


def _as_volume(volume: np.ndarray) -> np.ndarray:
    """Validate a 2-D image or (slices, H, W) volume and return a float64 (slices, H, W) copy."""
    arr = np.asarray(volume)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"denoise: expected a real-valued image, got dtype {arr.dtype} (use the magnitude)")
    if arr.ndim not in (2, 3):
        raise ValueError(f"denoise: expected a 2-D image (H, W) or a 3-D volume (slices, H, W), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"denoise: the input is empty (shape {arr.shape})")
    if min(arr.shape[-2:]) < 3:
        raise ValueError(f"denoise: slices must be at least 3×3 pixels, got shape {arr.shape}")
    out = arr.astype(np.float64)  # always a copy: the caller's array is never touched
    if not np.isfinite(out).all():
        raise ValueError("denoise: the input contains NaN or infinite values")
    return out[None] if out.ndim == 2 else out


def _check_noise_model(noise: str) -> str:
    if noise not in NOISE_MODELS:
        raise ValueError(f"denoise: noise must be one of {', '.join(NOISE_MODELS)}; got {noise!r}")
    return noise


def _check_given_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise ValueError(f"denoise: sigma must be a positive number (image intensity units) or None, got {sigma!r}")
    if not math.isfinite(float(sigma)) or sigma <= 0:
        raise ValueError(f"denoise: sigma must be a positive finite number (image intensity units), got {sigma!r}")
    return float(sigma)


def _estimate(volume: np.ndarray, noise: str) -> float:
    """σ of a validated (slices, H, W) float64 volume in its own units; refuses a noise-free result."""
    if noise == "rician":
        if volume.min() < 0:
            raise NoiseEstimateError(
                f"denoise: noise='rician' needs a non-negative magnitude image, but the minimum is {volume.min():g}"
            )
        sigma = estimate_rician_sigma(volume)
    else:
        # Constant slices carry no noise information (and make the wavelet estimate divide by zero).
        estimates = [estimate_sigma(plane) for plane in volume if np.ptp(plane) > 0]
        sigma = float(np.median(estimates)) if estimates else 0.0
    # Relative floor: a noise-free image gives round-off sized estimates rather than exactly zero.
    if not sigma > 1e-6 * max(float(np.abs(volume).max()), np.finfo(np.float64).tiny):
        raise NoiseEstimateError(
            f"denoise: the estimated {noise} noise sigma is 0 (the image looks noise-free); pass sigma explicitly"
        )
    return sigma


def estimate_noise_sigma(volume: np.ndarray, noise: str = "gaussian") -> float:
    """The σ that ``denoise`` uses when none is given, in the image's intensity units.

    Args:
        volume: 2-D image or (slices, H, W) volume (not modified).
        noise: ``"gaussian"`` (wavelet estimate, median over slices) or ``"rician"`` (air-background estimate).

    Returns:
        σ in the image's intensity units.

    Raises:
        ValueError: for bad input, or when no σ can be estimated (no air background, noise-free image).
    """
    return _estimate(_as_volume(volume), _check_noise_model(noise))


def denoise(
    volume: np.ndarray,
    method: str,
    noise: str = "gaussian",
    sigma: float | None = None,
    *,
    progress: ProgressCallback | None = None,
    **params: Any,
) -> np.ndarray:
    """Denoise (or, for ``clahe``, contrast-equalise) a 2-D image or a volume slice by slice.

    Methods and their ``params`` (σ below is the noise σ after scaling the volume to [0, 1]; see
    ``method_parameters(method)`` for the defaults):

    * ``mean`` (``size``), ``gaussian`` (``kernel_sigma``, pixels), ``median`` (``size``): fixed kernels, σ unused.
    * ``wiener`` (``size``): adaptive Wiener with noise power σ².
    * ``bilateral`` (``color_factor``, ``sigma_spatial``): range kernel ``color_factor``·σ.
    * ``tv`` (``weight_factor``, ``max_num_iter``): Chambolle TV with weight ``weight_factor``·σ.
    * ``wavelet`` (``wavelet``, ``mode``, ``shrinkage``): BayesShrink/VisuShrink thresholds from σ.
    * ``wavelet_cycle_spinning`` (``max_shifts`` plus the wavelet ones): shift-invariant wavelet shrinkage.
    * ``nlm`` (``h_factor``, ``patch_size``, ``patch_distance``): non-local means with h = ``h_factor``·σ.
    * ``bm3d`` (``profile``, ``stage``): BM3D with noise PSD σ².
    * ``clahe`` (``clip_limit``, ``kernel_size``, ``nbins``): CLAHE per slice; output mapped onto the input's
      intensity range [min(0, min), max].

    Args:
        volume: 2-D image (H, W) or volume (slices, H, W), real and finite (not modified).
        method: one of ``list_methods()``.
        noise: ``"gaussian"`` or ``"rician"``. Rician: σ from the air background when not given, and the bias
            correction √max(u² − 2σ², 0) applied to the filter output (to the input for ``clahe``).
        sigma: noise σ **in the image's intensity units** (for an image from ``add_rician(x, s)`` that is
            ``s * x.max()``); ``None`` estimates it when the method or the Rician correction needs it.
        progress: optional ``progress(done_slices, total_slices)`` callback, called after each slice.
        **params: the method's parameters listed above.

    Returns:
        Float32 array of the input's shape.

    Raises:
        ValueError: unknown method, noise model or parameter (the message lists the accepted ones); bad
            parameter values; NaN/inf input; wrong dimensionality; non-positive σ; no σ can be estimated.
    """
    spec = get_method(method)
    check_parameters(method, params)
    noise = _check_noise_model(noise)
    input_shape = np.shape(volume)
    work = _as_volume(volume)
    if noise == "rician" and work.min() < 0:
        raise NoiseEstimateError(
            f"denoise: noise='rician' needs a non-negative magnitude image, but the minimum is {work.min():g}"
        )

    needs_sigma = spec.uses_sigma or noise == "rician"
    if sigma is not None:
        sigma_abs: float | None = _check_given_sigma(sigma)
    else:
        sigma_abs = _estimate(work, noise) if needs_sigma else None

    if noise == "rician" and spec.is_contrast:
        assert sigma_abs is not None  # Rician noise always needs its sigma
        work = rician_bias_correction(work, sigma_abs)

    # Scale to [0, 1] with zero kept at zero for non-negative data (what the Rician correction relies on).
    low = min(0.0, float(work.min()))
    span = float(work.max()) - low
    span = span if span > 0 else 1.0
    scaled = (work - low) / span
    sigma_scaled = None if sigma_abs is None else sigma_abs / span

    out = np.empty_like(scaled)
    for k, plane in enumerate(scaled):
        out[k] = spec.apply(plane, sigma_scaled, **params)
        if progress is not None:
            progress(k + 1, len(scaled))
    out = out * span + low

    if noise == "rician" and not spec.is_contrast:
        assert sigma_abs is not None
        out = rician_bias_correction(out, sigma_abs)
    return out.astype(np.float32).reshape(input_shape)
