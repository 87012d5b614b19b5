"""MRI noise models: additive Gaussian and Rician noise, a Rician-aware noise estimate and the bias correction.

Units, stated once because they differ on purpose:

* ``add_gaussian`` / ``add_rician`` take σ **relative to the image maximum** (σ = 0.05 means a noise standard
  deviation of 5 % of ``x.max()``), as the denoising literature states noise levels.
* ``estimate_rician_sigma`` and ``rician_bias_correction`` work in the **image's own intensity units**: on a real
  scan there is no clean maximum to be relative to (the noisy maximum is inflated by the noise itself).
  An image made with ``add_rician(x, s)`` therefore has σ = ``s * x.max()`` in image units.

The Rician model is that of a single-channel magnitude image: M = √((A + σn₁)² + (σn₂)²) with n₁, n₂
independent standard normal. Where the signal A is zero (air) M is Rayleigh distributed, which is what the σ
estimate uses.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from condswin.errors import InputError

__all__ = ["NoiseEstimateError", "add_gaussian", "add_rician", "estimate_rician_sigma", "rician_bias_correction"]

SeedLike = int | np.random.Generator | None

# Median of a Rayleigh(σ) distribution is σ·√(2 ln 2); its coefficient of variation is √(4/π − 1).
_RAYLEIGH_MEDIAN_FACTOR = math.sqrt(2.0 * math.log(2.0))
_RAYLEIGH_CV = math.sqrt(4.0 / math.pi - 1.0)


class NoiseEstimateError(InputError):
    """The image's noise cannot be measured (no air background, not a magnitude image, noise-free)."""


def _check_real_finite(x: np.ndarray, name: str, ndims: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as an ndarray after refusing complex, non-numeric, empty or non-finite input."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real-valued numeric array, got dtype {arr.dtype}")
    if ndims is not None and arr.ndim not in ndims:
        raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in ndims)} array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: the array is empty (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name}: the array contains NaN or infinite values")
    return arr


def _check_sigma(sigma: float, name: str) -> float:
    """Return ``sigma`` as a float after refusing negative, NaN or infinite values."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: sigma must be a number, got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: sigma must be a finite number >= 0, got {sigma!r}")
    return value


def _output_dtype(arr: np.ndarray) -> np.dtype:
    """Float64 input stays float64; everything else becomes float32 (what the networks consume)."""
    return np.dtype(np.float64) if arr.dtype == np.float64 else np.dtype(np.float32)


def _absolute_sigma(arr: np.ndarray, sigma: float, reference: float | None, name: str) -> float:
    """Turn a σ relative to ``reference`` (default: the image maximum) into image units."""
    if reference is None:
        reference = float(arr.max())
        if reference <= 0:
            raise ValueError(
                f"{name}: sigma is relative to the image maximum, but the maximum is {reference:g}; "
                "pass reference=<intensity> (e.g. reference=1.0 for sigma in image units)"
            )
    else:
        reference = float(reference)
        if not math.isfinite(reference) or reference <= 0:
            raise ValueError(f"{name}: reference must be a finite number > 0, got {reference!r}")
    return sigma * reference


def add_gaussian(x: np.ndarray, sigma: float, seed: SeedLike = None, *, reference: float | None = None) -> np.ndarray:
    """Add zero-mean Gaussian noise whose standard deviation is ``sigma`` times the image maximum.

    Args:
        x: real image or volume of any shape (not modified).
        sigma: noise standard deviation **relative to the image maximum** (``x.max()``), or to ``reference``
            when given. Must be >= 0.
        seed: integer seed or ``numpy.random.Generator`` for reproducible noise; ``None`` draws fresh noise.
        reference: intensity that ``sigma`` is relative to instead of ``x.max()`` (``1.0``: σ in image units).

    Returns:
        ``x + σ·max·n`` with n standard normal, float64 for float64 input and float32 otherwise.

    Raises:
        ValueError: for non-real or non-finite input, a negative σ, or a non-positive maximum without ``reference``.
    """
    arr = _check_real_finite(x, "add_gaussian")
    sigma_abs = _absolute_sigma(arr, _check_sigma(sigma, "add_gaussian"), reference, "add_gaussian")
    rng = np.random.default_rng(seed)
    noisy = arr.astype(np.float64) + sigma_abs * rng.standard_normal(arr.shape)
    return noisy.astype(_output_dtype(arr))


def add_rician(x: np.ndarray, sigma: float, seed: SeedLike = None, *, reference: float | None = None) -> np.ndarray:
    """Turn a clean magnitude image into a Rician-noisy one: √((x + σn₁)² + (σn₂)²).

    This is what a single-channel magnitude MR image looks like when complex Gaussian noise of standard
    deviation σ is added to the real and imaginary channels of a real-valued signal ``x``.

    Args:
        x: clean (non-negative) magnitude image or volume of any shape (not modified).
        sigma: per-channel noise standard deviation **relative to the image maximum** (``x.max()``), or to
            ``reference`` when given. Must be >= 0.
        seed: integer seed or ``numpy.random.Generator`` for reproducible noise; ``None`` draws fresh noise.
        reference: intensity that ``sigma`` is relative to instead of ``x.max()`` (``1.0``: σ in image units;
            needed for an all-zero image, whose Rician noise has mean σ·√(π/2)).

    Returns:
        The Rician magnitude image, float64 for float64 input and float32 otherwise.

    Raises:
        ValueError: for non-real or non-finite input, a negative σ, or a non-positive maximum without ``reference``.
    """
    arr = _check_real_finite(x, "add_rician")
    sigma_abs = _absolute_sigma(arr, _check_sigma(sigma, "add_rician"), reference, "add_rician")
    rng = np.random.default_rng(seed)
    real = arr.astype(np.float64) + sigma_abs * rng.standard_normal(arr.shape)
    imag = sigma_abs * rng.standard_normal(arr.shape)
    return np.hypot(real, imag).astype(_output_dtype(arr))


def background_mask(x: np.ndarray, smoothing: float = 2.0, margin: int = 3) -> np.ndarray:
    """Mask of the air around the object in a magnitude image or a (slices, H, W) volume.

    The object is what an Otsu threshold keeps of the in-plane smoothed image (smoothing first, so single noisy
    background pixels do not cross the threshold and get cut out of the background, which would truncate the
    noise distribution), with holes filled slice by slice and grown by ``margin`` pixels to drop partial-volume
    edges. Selecting by region rather than by each pixel's own value leaves the background's noise untruncated.

    Args:
        x: 2-D image or 3-D (slices, H, W) volume, non-negative.
        smoothing: Gaussian smoothing (pixels, in-plane) before the threshold.
        margin: pixels by which the object is grown before taking the complement.

    Returns:
        Boolean array of ``x``'s shape, ``True`` in the background.
    """
    volume = np.asarray(x, dtype=np.float64)
    volume = volume[None] if volume.ndim == 2 else volume
    smoothed = ndimage.gaussian_filter(volume, sigma=(0.0, smoothing, smoothing))
    if smoothed.max() == smoothed.min():
        return np.ones(np.shape(x), dtype=bool)
    threshold = threshold_otsu(smoothed)
    in_plane = ndimage.generate_binary_structure(2, 2)
    obj = np.empty(volume.shape, dtype=bool)
    for k, plane in enumerate(smoothed):
        filled = ndimage.binary_fill_holes(plane > threshold)
        obj[k] = ndimage.binary_dilation(filled, structure=in_plane, iterations=margin) if margin > 0 else filled
    return (~obj).reshape(np.shape(x))


def estimate_rician_sigma(
    x: np.ndarray, *, smoothing: float = 2.0, margin: int = 3, min_background: int = 256
) -> float:
    """Estimate the Rician σ of a magnitude image from its air background, in the image's intensity units.

    In air the signal is zero and a Rician magnitude is Rayleigh(σ), whose median is σ·√(2 ln 2); the median is
    used because it shrugs off the few object or artefact pixels that slip into the background. A Gaussian
    estimator (e.g. ``skimage.restoration.estimate_sigma``) under-estimates Rician σ, because the Rayleigh
    spread in air is only 0.66σ and the noise in bright tissue is what it measures at best.

    Pixels that are exactly zero are left out: they are masked or zero-filled, not measured (a Rayleigh sample is
    zero with probability 0). The estimate assumes single-channel magnitude data; for a root-sum-of-squares
    multi-coil image the air follows a non-central χ distribution and this estimate is biased.

    Args:
        x: 2-D magnitude image or 3-D (slices, H, W) volume (σ is pooled over the volume). Not modified.
        smoothing: in-plane Gaussian smoothing (pixels) used only to find the object (see ``background_mask``).
        margin: pixels by which the object is grown before its complement is taken as background.
        min_background: fewest background pixels accepted.

    Returns:
        σ in the same units as ``x`` (divide by the clean maximum for the relative σ of ``add_rician``).

    Raises:
        ValueError: for NaN/inf, negative values or wrong dimensionality; when no air background of at least
            ``min_background`` non-zero pixels is found; or when the "background" found is too uniform to be
            Rayleigh noise (an image filled by the object, where the darkest tissue would be mistaken for air).
    """
    arr = _check_real_finite(x, "estimate_rician_sigma", ndims=(2, 3))
    if arr.min() < 0:
        raise NoiseEstimateError(
            f"estimate_rician_sigma: a magnitude image is non-negative, but the minimum is {float(arr.min()):g}"
        )
    samples = arr[background_mask(arr, smoothing=smoothing, margin=margin)].astype(np.float64)
    samples = samples[samples > 0]
    if samples.size < min_background:
        raise NoiseEstimateError(
            f"estimate_rician_sigma: found {samples.size} non-zero air-background pixels, need {min_background}; "
            "the object fills the field of view or the background is zero-filled. Pass sigma explicitly."
        )
    cv = float(samples.std() / samples.mean())
    if cv < 0.5 * _RAYLEIGH_CV:
        raise NoiseEstimateError(
            f"estimate_rician_sigma: the darkest region has a coefficient of variation of {cv:.3f}, far below the "
            f"{_RAYLEIGH_CV:.3f} of pure Rayleigh noise, so it is tissue rather than air. Pass sigma explicitly."
        )
    return float(np.median(samples) / _RAYLEIGH_MEDIAN_FACTOR)


def rician_bias_correction(u: np.ndarray, sigma: float) -> np.ndarray:
    """Remove the Rician noise floor from a magnitude estimate: √max(u² − 2σ², 0).

    The formula inverts E[M²] = A² + 2σ² for a Rician magnitude M of signal A. It is meant for a smoothed
    (denoised) estimate ``u`` rather than for single noisy pixels, where it clips about half of the air to zero.
    A denoised magnitude estimates E[M] rather than √E[M²]; then the correction is exact in air (the floor
    σ·√(π/2) goes to 0), removes most of the bias at low SNR, and at high SNR over-corrects by about σ²/(2A),
    as much as the bias it removes (measured for u = E[M]: A/σ = 1: bias +0.55σ → −0.37σ; A/σ = 5: +0.10σ →
    −0.10σ).

    Args:
        u: magnitude image or volume (not modified).
        sigma: Rician σ **in the same intensity units as** ``u`` (e.g. from ``estimate_rician_sigma``), >= 0.

    Returns:
        The corrected array, float64 for float64 input and float32 otherwise.

    Raises:
        ValueError: for non-real or non-finite input or a negative σ.
    """
    arr = _check_real_finite(u, "rician_bias_correction")
    sigma = _check_sigma(sigma, "rician_bias_correction")
    u64 = arr.astype(np.float64)
    return np.sqrt(np.maximum(u64 * u64 - 2.0 * sigma * sigma, 0.0)).astype(_output_dtype(arr))
