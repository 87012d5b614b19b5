"""Centred, orthonormal 2-D Fourier transforms over the last two axes, for numpy arrays and torch tensors.

fastMRI's convention: ``fft2c(x) = fftshift(fft2(ifftshift(x), norm="ortho"))`` so that the k-space centre
(DC) sits in the middle of the array and Parseval holds (``||x|| == ||fft2c(x)||``). Both functions work on
any leading batch/slice/coil axes and keep complex64 as complex64 (numpy would otherwise promote).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union, overload

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so numpy-only callers (h5 tools, metrics) never pay for it
    import torch
    from typing_extensions import TypeIs

ArrayOrTensor = Union[np.ndarray, "torch.Tensor"]

__all__ = ["fft2c", "ifft2c", "complex_to_channels", "channels_to_complex", "is_tensor"]

_AXES = (-2, -1)


def is_tensor(x: object) -> TypeIs[torch.Tensor]:
    """True when ``x`` is a torch tensor, without importing torch for numpy callers."""
    return type(x).__module__.startswith("torch") and hasattr(x, "device")


def _check_2d(x: ArrayOrTensor, name: str) -> None:
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an array with at least 2 dims (..., H, W), got shape {tuple(x.shape)}")


def _complex_dtype_np(x: np.ndarray) -> np.dtype:
    # single-precision inputs stay single precision; everything else becomes complex128
    return np.dtype(np.complex64) if x.dtype in (np.float32, np.complex64, np.float16) else np.dtype(np.complex128)


@overload
def fft2c(x: np.ndarray) -> np.ndarray: ...
@overload
def fft2c(x: torch.Tensor) -> torch.Tensor: ...
def fft2c(x: ArrayOrTensor) -> ArrayOrTensor:
    """Centred orthonormal 2-D FFT over the last two axes (image → k-space).

    Args:
        x: image of shape (..., H, W); complex or real numpy array or torch tensor.

    Returns:
        Complex k-space of the same shape and library as ``x`` (complex64 for single-precision input).
    """
    _check_2d(x, "fft2c")
    if is_tensor(x):
        import torch

        shifted = torch.fft.ifftshift(x, dim=_AXES)
        return torch.fft.fftshift(torch.fft.fft2(shifted, dim=_AXES, norm="ortho"), dim=_AXES)
    x = np.asarray(x)
    out = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=_AXES), axes=_AXES, norm="ortho"), axes=_AXES)
    return out.astype(_complex_dtype_np(x), copy=False)


@overload
def ifft2c(k: np.ndarray) -> np.ndarray: ...
@overload
def ifft2c(k: torch.Tensor) -> torch.Tensor: ...
def ifft2c(k: ArrayOrTensor) -> ArrayOrTensor:
    """Centred orthonormal 2-D inverse FFT over the last two axes (k-space → image).

    Args:
        k: k-space of shape (..., H, W) with the DC term at the centre; numpy array or torch tensor.

    Returns:
        Complex image of the same shape and library as ``k``.
    """
    _check_2d(k, "ifft2c")
    if is_tensor(k):
        import torch

        shifted = torch.fft.ifftshift(k, dim=_AXES)
        return torch.fft.fftshift(torch.fft.ifft2(shifted, dim=_AXES, norm="ortho"), dim=_AXES)
    k = np.asarray(k)
    out = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=_AXES), axes=_AXES, norm="ortho"), axes=_AXES)
    return out.astype(_complex_dtype_np(k), copy=False)


@overload
def complex_to_channels(x: np.ndarray, channel_axis: int = -3) -> np.ndarray: ...
@overload
def complex_to_channels(x: torch.Tensor, channel_axis: int = -3) -> torch.Tensor: ...
def complex_to_channels(x: ArrayOrTensor, channel_axis: int = -3) -> ArrayOrTensor:
    """Split a complex image (..., H, W) into real and imaginary channels (..., 2, H, W) for a real network.

    Args:
        x: complex array or tensor of shape (..., H, W).
        channel_axis: where the new size-2 axis goes (default: just before H, W, i.e. NCHW for (N, H, W) input).

    Returns:
        Real array or tensor with a new axis of size 2 holding (real, imaginary).
    """
    _check_2d(x, "complex_to_channels")
    if is_tensor(x):
        import torch

        return torch.stack((x.real, x.imag), dim=channel_axis)
    x = np.asarray(x)
    return np.stack((x.real, x.imag), axis=channel_axis)


@overload
def channels_to_complex(x: np.ndarray, channel_axis: int = -3) -> np.ndarray: ...
@overload
def channels_to_complex(x: torch.Tensor, channel_axis: int = -3) -> torch.Tensor: ...
def channels_to_complex(x: ArrayOrTensor, channel_axis: int = -3) -> ArrayOrTensor:
    """Inverse of :func:`complex_to_channels`: a size-2 (real, imaginary) axis back into one complex array.

    Args:
        x: real array or tensor with ``x.shape[channel_axis] == 2``.
        channel_axis: the axis holding (real, imaginary).

    Returns:
        Complex array or tensor without that axis.
    """
    if x.ndim < 3 or x.shape[channel_axis] != 2:
        raise ValueError(
            f"channels_to_complex: expected a size-2 (real, imaginary) axis at {channel_axis}, got shape {tuple(x.shape)}"
        )
    if is_tensor(x):
        import torch

        real, imag = torch.unbind(x, dim=channel_axis)
        return torch.complex(real.contiguous(), imag.contiguous())
    x = np.asarray(x)
    real, imag = np.moveaxis(x, channel_axis, 0)
    return real + 1j * imag
