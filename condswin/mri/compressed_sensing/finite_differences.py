"""Periodic finite differences of (..., H, W) images: the gradient behind total variation, its adjoint, and the
spectrum of their product in centred k-space.

Periodic boundaries match the discrete Fourier transform the data term uses: the gradient is then a circular
convolution, diagonal in k-space, so ``(m + rho * grad^H grad)`` — the matrix the ADMM image update inverts —
is diagonal in k-space too and the update costs two FFTs (see :func:`.solvers.total_variation_admm`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["gradient", "gradient_adjoint", "gradient_gram_spectrum"]


def gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences along rows and columns, wrapping around: (..., H, W) → (2, ..., H, W)."""
    return torch.stack((torch.roll(x, -1, dims=-2) - x, torch.roll(x, -1, dims=-1) - x))


def gradient_adjoint(p: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`gradient` (minus the divergence): (2, ..., H, W) → (..., H, W)."""
    rows, columns = p[0], p[1]
    return (torch.roll(rows, 1, dims=-2) - rows) + (torch.roll(columns, 1, dims=-1) - columns)


def gradient_gram_spectrum(height: int, width: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The eigenvalues of ``gradient_adjoint(gradient(.))`` on the centred k-space grid of
    :func:`condswin.mri.fft.fft2c`.

    A circular convolution commutes with the shifts of ``fft2c``, so its eigenvalues are the unnormalised DFT
    of its kernel, shifted like the k-space: ``4 - 2 cos(2 pi f_y) - 2 cos(2 pi f_x)``, 0 at the centre (DC).
    """
    rows = torch.fft.fftshift(torch.fft.fftfreq(height, dtype=torch.float64, device=device))
    columns = torch.fft.fftshift(torch.fft.fftfreq(width, dtype=torch.float64, device=device))
    spectrum = (2 - 2 * torch.cos(2 * math.pi * rows))[:, None] + (2 - 2 * torch.cos(2 * math.pi * columns))[None, :]
    return spectrum.to(dtype)
