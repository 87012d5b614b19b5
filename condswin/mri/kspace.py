"""k-space operations shared by reconstruction training, inference and the MRIRecon module.

Every function works on numpy arrays and on torch tensors (same library out as in), over the last two axes
(H, W); masks are boolean or 0/1 vectors over the columns W (see :mod:`condswin.mri.masks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from condswin.errors import InputError
from condswin.mri.fft import ArrayOrTensor, fft2c, ifft2c, is_tensor

if TYPE_CHECKING:
    import torch

__all__ = [
    "KSpaceDataError",
    "apply_mask",
    "center_crop",
    "rss",
    "zero_filled",
    "data_consistency",
    "image_data_consistency",
    "simulate_singlecoil_kspace",
]


class KSpaceDataError(InputError):
    """Image or k-space values a user supplied that cannot be used (NaN, a negative magnitude).

    Wrong shapes or types passed by code stay ``ValueError``/``TypeError``: those are bugs, not bad data.
    The message does not name a file (these functions see arrays); callers add it.
    """


def _as_column_mask(mask: ArrayOrTensor, like: ArrayOrTensor) -> ArrayOrTensor:
    """A (W,) mask, or any shape ending in W that broadcasts, as a real 0/1 array of ``like``'s library."""
    width = like.shape[-1]
    if mask.shape[-1] != width:
        raise ValueError(f"mask has {mask.shape[-1]} columns but the k-space has {width} (shape {tuple(like.shape)})")
    if is_tensor(like):
        import torch

        mask_t = torch.as_tensor(mask, device=like.device)
        real_dtype = like.real.dtype if like.is_complex() else like.dtype
        return mask_t.to(real_dtype)
    real_np_dtype = np.empty(0, dtype=like.dtype).real.dtype
    return np.asarray(mask).astype(real_np_dtype)


@overload
def apply_mask(kspace: np.ndarray, mask: ArrayOrTensor) -> np.ndarray: ...
@overload
def apply_mask(kspace: torch.Tensor, mask: ArrayOrTensor) -> torch.Tensor: ...
def apply_mask(kspace: ArrayOrTensor, mask: ArrayOrTensor) -> ArrayOrTensor:
    """Zero the unsampled columns of k-space.

    Args:
        kspace: complex k-space (..., H, W).
        mask: boolean or 0/1 column mask of shape (W,) (or anything ending in W that broadcasts).

    Returns:
        A new masked k-space. ``+ 0.0`` turns the negative zeros that ``x * 0`` leaves for negative entries into
        positive zeros, so masked files compare bit-equal with fastMRI's.
    """
    if kspace.ndim < 2:
        raise ValueError(f"apply_mask: k-space must have at least 2 dims (..., H, W), got shape {tuple(kspace.shape)}")
    return kspace * _as_column_mask(mask, kspace) + 0.0


@overload
def center_crop(x: np.ndarray, shape: Sequence[int]) -> np.ndarray: ...
@overload
def center_crop(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor: ...
def center_crop(x: ArrayOrTensor, shape: Sequence[int]) -> ArrayOrTensor:
    """Crop the centre of the last two axes, placed as fastMRI places it (start = (size - crop) // 2).

    Args:
        x: array or tensor (..., H, W).
        shape: (h, w) with ``0 < h <= H`` and ``0 < w <= W``.

    Returns:
        A view (numpy) or slice (torch) of shape (..., h, w).
    """
    h, w = int(shape[0]), int(shape[1])
    if x.ndim < 2 or not (0 < h <= x.shape[-2] and 0 < w <= x.shape[-1]):
        raise ValueError(f"center_crop: cannot crop shape {tuple(x.shape)} to ({h}, {w})")
    top = (x.shape[-2] - h) // 2
    left = (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


@overload
def rss(x: np.ndarray, axis: int = 0) -> np.ndarray: ...
@overload
def rss(x: torch.Tensor, axis: int = 0) -> torch.Tensor: ...
def rss(x: ArrayOrTensor, axis: int = 0) -> ArrayOrTensor:
    """Root-sum-of-squares coil combination: sqrt(sum |x|^2) over ``axis``.

    Args:
        x: real or complex coil images, e.g. (coils, H, W) or (slices, coils, H, W).
        axis: the coil axis.

    Returns:
        A real array or tensor without the coil axis.
    """
    if is_tensor(x):
        import torch

        return torch.sqrt((x.abs() ** 2).sum(dim=axis))
    x = np.asarray(x)
    return np.sqrt((np.abs(x) ** 2).sum(axis=axis))


def zero_filled(
    kspace: ArrayOrTensor,
    mask: ArrayOrTensor | None = None,
    crop: Sequence[int] | None = None,
    coil_axis: int | None = None,
) -> ArrayOrTensor:
    """Zero-filled reconstruction: (mask →) inverse centred FFT → magnitude (→ RSS over coils) (→ centre crop).

    Args:
        kspace: complex k-space (..., H, W); already undersampled unless ``mask`` is given.
        mask: optional column mask applied first.
        crop: optional (h, w) output size, e.g. (320, 320) for fastMRI knee targets.
        coil_axis: axis of the coils for multi-coil data (combined by RSS); None for single-coil.

    Returns:
        Real magnitude image(s): (..., h, w) without the coil axis.
    """
    if mask is not None:
        kspace = apply_mask(kspace, mask)
    image = ifft2c(kspace)
    if crop is not None:
        image = center_crop(image, crop)
    if coil_axis is not None:
        return rss(image, axis=coil_axis)
    return image.abs() if is_tensor(image) else np.abs(image)


@overload
def data_consistency(
    pred_kspace: np.ndarray, measured_kspace: ArrayOrTensor, mask: ArrayOrTensor, noise_lambda: float | None = None
) -> np.ndarray: ...
@overload
def data_consistency(
    pred_kspace: torch.Tensor, measured_kspace: ArrayOrTensor, mask: ArrayOrTensor, noise_lambda: float | None = None
) -> torch.Tensor: ...
def data_consistency(
    pred_kspace: ArrayOrTensor,
    measured_kspace: ArrayOrTensor,
    mask: ArrayOrTensor,
    noise_lambda: float | None = None,
) -> ArrayOrTensor:
    """Replace predicted k-space by the measured samples on the sampled columns.

    Without ``noise_lambda`` this is the hard projection ``(1 - m) k_pred + m k_meas``. With it, the sampled
    columns become ``(k_pred + lambda k_meas) / (1 + lambda)``, the closed-form minimiser of
    ``||k - k_pred||^2 + lambda ||m (k - k_meas)||^2`` for noisy measurements (Schlemper et al. 2018).

    Args:
        pred_kspace: k-space of the network's prediction (..., H, W).
        measured_kspace: measured (masked) k-space, same shape.
        mask: column mask (W,) or broadcastable.
        noise_lambda: weight of the measurements; None or inf means hard replacement.

    Returns:
        The corrected k-space.
    """
    if tuple(pred_kspace.shape) != tuple(measured_kspace.shape):
        raise ValueError(
            f"data_consistency: prediction {tuple(pred_kspace.shape)} and measurement "
            f"{tuple(measured_kspace.shape)} differ in shape"
        )
    m = _as_column_mask(mask, pred_kspace)
    if noise_lambda is None or np.isinf(noise_lambda):
        sampled = measured_kspace
    else:
        if noise_lambda < 0:
            raise ValueError(f"data_consistency: noise_lambda must be >= 0, got {noise_lambda}")
        sampled = (pred_kspace + noise_lambda * measured_kspace) / (1.0 + noise_lambda)
    return (1 - m) * pred_kspace + m * sampled


@overload
def image_data_consistency(
    image: np.ndarray, measured_kspace: ArrayOrTensor, mask: ArrayOrTensor, noise_lambda: float | None = None
) -> np.ndarray: ...
@overload
def image_data_consistency(
    image: torch.Tensor, measured_kspace: ArrayOrTensor, mask: ArrayOrTensor, noise_lambda: float | None = None
) -> torch.Tensor: ...
def image_data_consistency(
    image: ArrayOrTensor,
    measured_kspace: ArrayOrTensor,
    mask: ArrayOrTensor,
    noise_lambda: float | None = None,
) -> ArrayOrTensor:
    """Data consistency in image space: FFT the image, apply :func:`data_consistency`, inverse FFT.

    Args:
        image: predicted complex image (..., H, W), or a real magnitude (then its phase is taken as zero,
            which is only right for data whose phase was removed, e.g. k-space simulated without phase).
        measured_kspace: measured k-space (..., H, W).
        mask: column mask.
        noise_lambda: see :func:`data_consistency`.

    Returns:
        The corrected complex image.
    """
    corrected = data_consistency(fft2c(image), measured_kspace, mask, noise_lambda)
    return ifft2c(corrected)


def _smooth_phase(shape: tuple[int, ...], rng: np.random.Generator, max_phase: float, smoothness: float) -> np.ndarray:
    """A smooth random phase map (radians in [-max_phase, max_phase]) of ``shape`` (..., H, W)."""
    from scipy.ndimage import gaussian_filter

    h, w = shape[-2:]
    sigma = [0.0] * (len(shape) - 2) + [smoothness * h, smoothness * w]
    if len(shape) > 2:
        sigma[-3] = 2.0  # neighbouring slices get similar, not identical, phase (like B0 drifting through a volume)
    field = gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="wrap")
    field -= field.mean()
    peak = np.abs(field).max()
    if peak > 0:
        field *= max_phase / peak
    # a random linear ramp models an off-centre field of view (a shift in k-space)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    ramp = rng.uniform(-0.5, 0.5) * yy + rng.uniform(-0.5, 0.5) * xx
    return field + max_phase * 0.5 * ramp


def simulate_singlecoil_kspace(
    magnitude: np.ndarray,
    seed: Any = None,
    kspace_shape: Sequence[int] | None = None,
    max_phase: float = np.pi / 2,
    smoothness: float = 0.15,
) -> np.ndarray:
    """Single-coil k-space from a magnitude MR image with a smooth random phase.

    Real k-space is Hermitian only for a real image; MR images carry a smooth phase (B0, coil, RF), which
    makes undersampling artefacts realistic and stops a network from exploiting conjugate symmetry.

    Args:
        magnitude: non-negative real image(s) (..., H, W), e.g. (slices, H, W).
        seed: seed for ``numpy.random.default_rng`` (same seed → same phase).
        kspace_shape: optional (H', W') >= (H, W): the complex image is zero-padded to this size before the
            FFT (as a scanner's oversampled readout); its centre crop of (H, W) gives the image back.
        max_phase: peak of the smooth phase component in radians.
        smoothness: Gaussian width of the phase field as a fraction of the image size (larger = smoother).

    Returns:
        complex64 k-space (..., H', W').

    Raises:
        KSpaceDataError: the image holds NaN/infinite or negative values (an input problem).
        ValueError: not a real array of at least 2 dimensions, or ``kspace_shape`` smaller than the image.
    """
    magnitude = np.asarray(magnitude)
    if magnitude.ndim < 2 or not np.issubdtype(magnitude.dtype, np.number) or np.iscomplexobj(magnitude):
        raise ValueError(
            f"simulate_singlecoil_kspace: expected a real image (..., H, W), got {magnitude.dtype} {magnitude.shape}"
        )
    if not np.isfinite(magnitude).all():
        bad = int(np.count_nonzero(~np.isfinite(magnitude)))
        raise KSpaceDataError(f"the magnitude image holds {bad} NaN or infinite values; k-space cannot be simulated")
    if (magnitude < 0).any():
        raise KSpaceDataError(
            f"a magnitude image cannot be negative (minimum {float(magnitude.min()):g}); "
            "k-space can only be simulated from a magnitude image"
        )
    rng = np.random.default_rng(seed)
    image = magnitude.astype(np.float64) * np.exp(1j * _smooth_phase(magnitude.shape, rng, max_phase, smoothness))
    if kspace_shape is not None:
        out_h, out_w = int(kspace_shape[0]), int(kspace_shape[1])
        h, w = magnitude.shape[-2:]
        if out_h < h or out_w < w:
            raise ValueError(
                f"simulate_singlecoil_kspace: kspace_shape {(out_h, out_w)} is smaller than the image {(h, w)}"
            )
        top, left = (out_h - h) // 2, (out_w - w) // 2
        padded = np.zeros(magnitude.shape[:-2] + (out_h, out_w), dtype=image.dtype)
        padded[..., top : top + h, left : left + w] = image
        image = padded
    return fft2c(image).astype(np.complex64)
