"""The two solvers of ``min_x 1/2 ||M F x - y||^2 + lam R(x)`` for complex images x on the k-space grid.

``F`` is the centred orthonormal 2-D FFT (:func:`condswin.mri.fft.fft2c`), ``M`` the sampled-column mask and
``y`` the measured k-space (zero on the columns not sampled). Because ``F`` is unitary and ``M`` a 0/1
diagonal, ``F^H M F`` has eigenvalues 0 and 1: the data term's gradient is 1-Lipschitz, and a gradient step
of length 1 from ``x`` is exactly the data-consistent image ``F^H((1 - M) F x + y)`` (the measured columns
put back).

* Wavelet ℓ1, ``R(x) = ||W x||_1`` over the detail coefficients of an orthonormal wavelet transform (the
  coarsest approximation is not penalised: it holds the image's mean intensities, not its sparsity):
  FISTA ("A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse Problems", Beck & Teboulle)
  with step 1. ``W`` is orthonormal, so the proximal step is exact: soft thresholding of the coefficients
  (of the image shifted by a random offset, a different one every iteration: see :func:`wavelet_fista`).
  The transform needs sides divisible by ``2**levels``; an image that is not is padded at the bottom and
  right with pixels no measurement constrains (their only term is the sparsity), and cropped at the end.
* Total variation, ``R(x) = sum_pixels |grad x|`` (isotropic: the magnitude over both directions and the
  real and imaginary parts): ADMM with the split ``z = grad x``. With periodic differences every matrix the
  image update inverts is diagonal in k-space (see :mod:`.finite_differences`), so the update is exact and
  costs two FFTs, and the ``z`` update is a shrinkage. FISTA would need an inner iterative solver for the TV
  proximal step instead (no closed form); ``bench/cs_solvers.py`` compares both and a primal-dual method.

Both run on a batch of slices (B, H, W) at once; every slice is an independent problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from condswin.mri.compressed_sensing.finite_differences import gradient, gradient_adjoint, gradient_gram_spectrum
from condswin.mri.compressed_sensing.wavelets import WaveletCoefficients, WaveletTransform, padded_size
from condswin.mri.fft import fft2c, ifft2c

__all__ = [
    "WAVELET",
    "WAVELET_LEVELS",
    "MeasuredKSpace",
    "solve",
    "total_variation",
    "total_variation_admm",
    "wavelet_l1",
    "wavelet_fista",
    "ADMM_PENALTY",
]

# Haar with random shifts beat db2 and db4 by 1-1.3 dB PSNR on brain slices at 4x and 8x, and is the cheapest;
# 3 and 5 levels made little difference (bench/cs_solvers.py).
WAVELET = "haar"
WAVELET_LEVELS = 4

# ADMM's penalty rho as a multiple of lam. The iterates converge for any rho > 0, but how fast depends on it;
# of 4, 16, 32 and 64 lam, 32 lam left the smallest objective gap after 100 iterations on brain slices at 4x
# and 8x, at lam 1e-4, 1e-3 and 1e-2 alike (bench/cs_solvers.py --tv-lam).
ADMM_PENALTY = 32.0


@dataclass(frozen=True)
class MeasuredKSpace:
    """Undersampled single-coil k-space of a batch of slices.

    Attributes:
        kspace: complex (B, H, W), zero on the columns not sampled.
        mask: real (W,) 0/1 sampled-column mask, on ``kspace``'s device.
    """

    kspace: torch.Tensor
    mask: torch.Tensor

    def zero_filled(self) -> torch.Tensor:
        """The least-squares image with the smallest norm: the inverse FFT of the measured k-space."""
        return ifft2c(self.kspace)

    def consistent(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with its measured columns replaced by the data: the data term's gradient step of length 1."""
        return ifft2c(fft2c(x) * (1 - self.mask) + self.kspace)

    def data_term(self, x: torch.Tensor) -> torch.Tensor:
        """``1/2 ||M F x - y||^2`` per slice, (B,)."""
        residual = fft2c(x) * self.mask - self.kspace
        return 0.5 * residual.abs().pow(2).sum(dim=(-2, -1))


def _shrink(values: torch.Tensor, threshold: float, dim: int | None = None) -> torch.Tensor:
    """Complex soft thresholding: magnitudes (over ``dim`` too, when given) lowered by ``threshold``, phase kept."""
    magnitude = values.abs() if dim is None else values.abs().pow(2).sum(dim=dim, keepdim=True).sqrt()
    return values * torch.clamp(1 - threshold / magnitude.clamp_min(1e-30), min=0)


# --- total variation -------------------------------------------------------------------------------------------


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Isotropic total variation per slice, (B,): the sum over pixels of the gradient's magnitude."""
    return gradient(x).abs().pow(2).sum(dim=0).sqrt().sum(dim=(-2, -1))


def total_variation_admm(
    data: MeasuredKSpace, lam: float, iterations: int, *, penalty: float = ADMM_PENALTY
) -> torch.Tensor:
    """Minimise ``1/2 ||M F x - y||^2 + lam TV(x)`` by ADMM, starting from the zero-filled image.

    Iteration (scaled dual ``u``, ``rho = penalty * lam``)::

        x = F^H[(y + rho F grad^H(z - u)) / (M + rho * spectrum(grad^H grad))]
        z = shrink(grad x + u, lam / rho)
        u = u + grad x - z

    Args:
        data: the measured k-space and mask.
        lam: regularisation weight (> 0), in the units of the data.
        iterations: ADMM iterations.
        penalty: rho / lam.

    Returns:
        The complex images (B, H, W).
    """
    x = data.zero_filled()
    rho = penalty * lam
    height, width = x.shape[-2:]
    spectrum = gradient_gram_spectrum(height, width, dtype=x.real.dtype, device=x.device)
    # (M + rho * spectrum) is 0 only where both are: DC unsampled; nothing determines that coefficient, keep 0.
    denominator = data.mask + rho * spectrum
    inverse = torch.where(denominator > 0, 1 / denominator.clamp_min(1e-30), torch.zeros_like(denominator))
    z = gradient(x)
    u = torch.zeros_like(z)
    for _ in range(iterations):
        x = ifft2c((data.kspace + rho * fft2c(gradient_adjoint(z - u))) * inverse)
        target = gradient(x) + u
        z = _shrink(target, lam / rho, dim=0)
        u = target - z
    return x


# --- wavelet l1 ------------------------------------------------------------------------------------------------


def _shrink_details(coefficients: WaveletCoefficients, threshold: float) -> WaveletCoefficients:
    """Complex soft thresholding of every detail band; the coarse approximation is kept as it is."""
    details = tuple(tuple(_shrink(band, threshold) for band in level) for level in coefficients.details)
    return WaveletCoefficients(coefficients.approximation, details)  # type: ignore[arg-type]


def wavelet_l1(x: torch.Tensor, transform: WaveletTransform) -> torch.Tensor:
    """``||W x||_1`` per slice, (B,): the magnitudes of the detail coefficients summed.

    ``x`` must already have sides divisible by ``2**transform.levels``.
    """
    levels = transform.forward(x).details
    return sum(band.abs().sum(dim=(-2, -1)) for level in levels for band in level)  # type: ignore[return-value]


def wavelet_fista(
    data: MeasuredKSpace, lam: float, iterations: int, transform: WaveletTransform, *, seed: int = 0
) -> torch.Tensor:
    """Minimise ``1/2 ||M F x - y||^2 + lam ||W x||_1`` by FISTA with step 1, starting from the zero-filled image.

    Every iteration thresholds the wavelet coefficients of the image circularly shifted by a random offset
    (below ``2**levels`` in each direction), as BART's and Lustig's reconstructions do: a decimated transform
    is not shift invariant, and one fixed grid leaves blocky artefacts where its cell borders fall. On brain
    slices at 4x and 8x this raised the PSNR by 2 dB over the fixed grid (``bench/cs_solvers.py``). The
    offsets come from a generator seeded by ``seed``, so a rerun gives the same image.

    Args:
        data: the measured k-space and mask.
        lam: regularisation weight (> 0), in the units of the data.
        iterations: FISTA iterations.
        transform: the orthonormal wavelet transform ``W``.
        seed: seed of the random offsets.

    Returns:
        The complex images (B, H, W).
    """
    start = data.zero_filled()
    height, width = start.shape[-2:]
    padded = (padded_size(height, transform.levels), padded_size(width, transform.levels))
    current = start.new_zeros(start.shape[:-2] + padded)
    current[..., :height, :width] = start
    offsets = torch.randint(0, 2**transform.levels, (iterations, 2), generator=torch.Generator().manual_seed(seed))
    momentum_point, step = current, 1.0
    for offset in offsets.tolist():
        gradient_step = momentum_point.clone()
        gradient_step[..., :height, :width] = data.consistent(momentum_point[..., :height, :width])
        shifted = torch.roll(gradient_step, offset, dims=(-2, -1))
        thresholded = transform.inverse(_shrink_details(transform.forward(shifted), lam))
        following = torch.roll(thresholded, [-o for o in offset], dims=(-2, -1))
        next_step = (1 + (1 + 4 * step * step) ** 0.5) / 2
        momentum_point = following + ((step - 1) / next_step) * (following - current)
        current, step = following, next_step
    return current[..., :height, :width]


def solve(data: MeasuredKSpace, regulariser: str, lam: float, iterations: int) -> torch.Tensor:
    """The compressed-sensing images of a batch: ``total_variation`` (ADMM) or ``wavelet_l1`` (FISTA on the
    :data:`WAVELET` transform of :data:`WAVELET_LEVELS` levels), as :mod:`condswin.mri.compressed_sensing`
    defines its methods.

    Returns:
        The complex images (B, H, W).
    """
    if regulariser == "total_variation":
        return total_variation_admm(data, lam, iterations)
    if regulariser == "wavelet_l1":
        return wavelet_fista(data, lam, iterations, WaveletTransform(WAVELET, WAVELET_LEVELS))
    raise ValueError(f"unknown regulariser {regulariser!r}; expected total_variation or wavelet_l1")
