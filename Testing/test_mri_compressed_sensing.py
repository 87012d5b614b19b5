"""Compressed-sensing reconstruction (:mod:`condswin.mri.compressed_sensing`): the operators are what the solvers
assume (orthonormal wavelets, adjoint differences, their k-space spectrum), each solver lowers the objective it
claims to minimise and beats zero-filling on a piecewise-constant image by a clear margin, lam is relative to the
data, and the volume driver reports every slice, stops on cancel and leaves its input alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from condswin.errors import UsageError
from condswin.inference import InferenceOptions
from condswin.inference.compressed_sensing import reconstruct_volume
from condswin.inference.engine import InferenceCancelled
from condswin.jobs.reconstruction import CLASSICAL_METHODS, ZERO_FILLED
from condswin.mri.compressed_sensing import CS_TV, CS_WAVELET, list_methods, resolve_parameters
from condswin.mri.compressed_sensing.finite_differences import gradient, gradient_adjoint, gradient_gram_spectrum
from condswin.mri.compressed_sensing.solvers import (
    WAVELET,
    WAVELET_LEVELS,
    MeasuredKSpace,
    total_variation,
    total_variation_admm,
    wavelet_fista,
    wavelet_l1,
)
from condswin.mri.compressed_sensing.wavelets import WaveletTransform, padded_size
from condswin.mri.fft import fft2c, ifft2c
from condswin.mri.kspace import simulate_singlecoil_kspace
from condswin.mri.masks import create_mask

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SIZE = 64
LAM = 1e-3  # relative to the zero-filled maximum, as the methods use it


def _inner(a: torch.Tensor, b: torch.Tensor) -> complex:
    return complex((a.conj() * b).sum())


def piecewise_constant(size: int = SIZE) -> np.ndarray:
    """A magnitude image of flat regions: a head-like ellipse, two darker blocks and a bright disc, on air."""
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    image = 0.5 * (((xx / 0.8) ** 2 + (yy / 0.9) ** 2) < 1)
    image[(np.abs(xx + 0.3) < 0.15) & (np.abs(yy) < 0.4)] = 0.2
    image[(np.abs(xx - 0.35) < 0.1) & (np.abs(yy - 0.2) < 0.25)] = 0.8
    image[((xx + 0.1) ** 2 + (yy + 0.5) ** 2) < 0.02] = 1.0
    return image.astype(np.float32)


@pytest.fixture(scope="module")
def undersampled() -> tuple[np.ndarray, MeasuredKSpace]:
    """(reference magnitude, 4x measurement scaled so that the zero-filled maximum is 1) of the image above."""
    truth = piecewise_constant()[None]
    kspace = simulate_singlecoil_kspace(truth, seed=1)  # a smooth phase, as MR images have
    mask, _ = create_mask("random", SIZE, 4, 0.08, seed=0)
    measured = kspace * mask
    scale = float(np.abs(ifft2c(measured)).max())
    data = MeasuredKSpace(
        torch.from_numpy(measured / scale).to(torch.complex64), torch.from_numpy(mask.astype(np.float32))
    )
    return truth / scale, data


def _psnr(reference: np.ndarray, image: torch.Tensor) -> float:
    error = np.mean((reference - image.abs().numpy()) ** 2)
    return float(10 * np.log10(reference.max() ** 2 / error))


# --- operators ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wavelet", ["haar", "db4"])
def test_the_wavelet_transform_is_orthonormal_on_complex_images(wavelet: str) -> None:
    transform = WaveletTransform(wavelet, 3)
    x = torch.randn(2, 32, 24, dtype=torch.complex128)
    coefficients = transform.forward(x)
    bands = [coefficients.approximation] + [band for level in coefficients.details for band in level]
    assert sum(band.numel() for band in bands) == x.numel()
    energy = sum(float(band.abs().pow(2).sum()) for band in bands)
    assert energy == pytest.approx(float(x.abs().pow(2).sum()), rel=1e-10)  # ||W x|| = ||x||
    torch.testing.assert_close(transform.inverse(coefficients), x)  # W^H W = I


def test_a_constant_image_has_no_wavelet_detail_and_odd_sizes_are_refused() -> None:
    transform = WaveletTransform("db4", 3)
    coefficients = transform.forward(torch.full((1, 16, 24), 2.0, dtype=torch.float64))
    assert max(float(band.abs().max()) for level in coefficients.details for band in level) < 1e-12
    assert padded_size(233, 4) == 240 and padded_size(240, 4) == 240
    with pytest.raises(ValueError, match="divisible by 8"):
        transform.forward(torch.zeros(1, 20, 24))
    with pytest.raises(ValueError, match="not orthogonal"):
        WaveletTransform("bior2.2")


def test_gradient_adjoint_is_the_adjoint_and_its_spectrum_diagonalises_the_product() -> None:
    x = torch.randn(2, 7, 10, dtype=torch.complex128)
    p = torch.randn(2, 2, 7, 10, dtype=torch.complex128)
    assert _inner(gradient(x), p) == pytest.approx(_inner(x, gradient_adjoint(p)), rel=1e-12)
    spectrum = gradient_gram_spectrum(7, 10, dtype=torch.float64, device=x.device)
    torch.testing.assert_close(ifft2c(spectrum * fft2c(x)), gradient_adjoint(gradient(x)))


# --- solvers -----------------------------------------------------------------------------------------------------


def test_tv_and_wavelet_cs_beat_zero_filling_on_a_piecewise_constant_image_at_4x(undersampled) -> None:
    truth, data = undersampled
    zero_filled = _psnr(truth, data.zero_filled()[0])
    tv = _psnr(truth, total_variation_admm(data, LAM, 60)[0])
    wavelet = _psnr(truth, wavelet_fista(data, 3 * LAM, 60, WaveletTransform(WAVELET, WAVELET_LEVELS))[0])
    # measured: zero-filled 19.2 dB, TV 28.4, wavelet 22.5 (the smooth phase makes Haar coefficients less sparse)
    assert tv > zero_filled + 6, (zero_filled, tv)
    assert wavelet > zero_filled + 2, (zero_filled, wavelet)


def test_each_solver_lowers_its_own_objective(undersampled) -> None:
    _, data = undersampled
    start = data.zero_filled()
    transform = WaveletTransform(WAVELET, 3)

    def tv_objective(x: torch.Tensor) -> float:
        return float(data.data_term(x) + LAM * total_variation(x))

    def wavelet_objective(x: torch.Tensor) -> float:
        # the solver shifts the wavelet grid at random: its regulariser is the mean over the 8 x 8 shifts
        # (64 is a multiple of 2**3, so no padding either)
        shifts = [(dy, dx) for dy in range(8) for dx in range(8)]
        penalty = sum(wavelet_l1(torch.roll(x, shift, dims=(-2, -1)), transform) for shift in shifts) / len(shifts)
        return float(data.data_term(x) + LAM * penalty)

    tv_steps = [
        tv_objective(x) for x in (start, total_variation_admm(data, LAM, 5), total_variation_admm(data, LAM, 60))
    ]
    assert tv_steps[0] > tv_steps[1] > tv_steps[2], tv_steps
    wavelet_steps = [wavelet_objective(x) for x in (start, wavelet_fista(data, LAM, 60, transform))]
    assert wavelet_steps[1] < 0.95 * wavelet_steps[0], wavelet_steps


def test_with_a_small_lam_the_measured_columns_are_kept(undersampled) -> None:
    """Data consistency: the data term dominates, so the k-space of the result matches every measured column."""
    _, data = undersampled
    for image in (
        total_variation_admm(data, 1e-5, 60),
        wavelet_fista(data, 1e-5, 60, WaveletTransform(WAVELET, WAVELET_LEVELS)),
    ):
        residual = (fft2c(image) * data.mask - data.kspace).norm() / data.kspace.norm()
        assert float(residual) < 1e-2
        unmeasured = fft2c(image) * (1 - data.mask)
        assert float(unmeasured.norm()) > 1e-3 * float(data.kspace.norm())  # and it filled the others in


# --- the volume driver -------------------------------------------------------------------------------------------


def _volume_kspace(slices: int = 3, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    truth = np.stack([np.roll(piecewise_constant(size), k, axis=1) for k in range(slices)])
    mask, _ = create_mask("random", size, 4, 0.08, seed=0)
    return simulate_singlecoil_kspace(truth, seed=2) * mask, mask


@pytest.mark.parametrize("method", [CS_TV, CS_WAVELET])
def test_lam_is_relative_to_the_data_and_the_input_is_left_alone(method: str) -> None:
    kspace, mask = _volume_kspace()
    before = kspace.copy()
    params = {"iterations": 10}
    images, info = reconstruct_volume(kspace, mask, method, params, InferenceOptions(device="cpu"))
    scaled, _ = reconstruct_volume(kspace * 1000, mask, method, params, InferenceOptions(device="cpu"))
    np.testing.assert_array_equal(kspace, before)
    assert images.dtype == np.complex64 and images.shape == kspace.shape and info.device == "cpu"
    np.testing.assert_allclose(np.abs(scaled), 1000 * np.abs(images), rtol=1e-3, atol=1e-3 * np.abs(scaled).max())
    stronger, _ = reconstruct_volume(kspace, mask, method, {"iterations": 10, "lam": 0.1})
    assert not np.allclose(stronger, images)  # lam is used


def test_progress_is_reported_per_slice_and_cancel_stops_before_the_next_slice() -> None:
    kspace, mask = _volume_kspace(slices=4)
    calls: list[tuple[int, int]] = []
    reconstruct_volume(
        kspace, mask, CS_TV, {"iterations": 2}, InferenceOptions(progress=lambda d, t, m: calls.append((d, t)))
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]

    done: list[int] = []

    def cancel_after_two() -> bool:
        return len(done) >= 2

    options = InferenceOptions(progress=lambda d, t, m: done.append(d), cancel=cancel_after_two)
    with pytest.raises(InferenceCancelled, match="after 2 of 4"):
        reconstruct_volume(kspace, mask, CS_WAVELET, {"iterations": 2}, options)
    assert done == [1, 2]


def test_all_zero_kspace_gives_the_zero_image() -> None:
    kspace, mask = _volume_kspace(slices=1)
    images, _ = reconstruct_volume(np.zeros_like(kspace), mask, CS_TV, {"iterations": 3})
    assert not images.any()


# --- parameters --------------------------------------------------------------------------------------------------


def test_parameters_defaults_and_their_checks() -> None:
    assert CLASSICAL_METHODS == (ZERO_FILLED, *list_methods())
    assert resolve_parameters(CS_TV, None) == {
        "lam": pytest.approx(resolve_parameters(CS_TV, {})["lam"]),
        "iterations": 100,
    }
    assert resolve_parameters(CS_WAVELET, {"lam": 1, "iterations": 5}) == {"lam": 1.0, "iterations": 5}
    for bad in (
        {"lam": -1},
        {"lam": float("nan")},
        {"lam": "abc"},
        {"lam": 0},
        {"iterations": 0},
        {"iterations": 10**9},
        {"iterations": 2.5},
        {"iterations": True},
        {"rho": 1},
    ):
        with pytest.raises(UsageError):
            resolve_parameters(CS_TV, bad)
    with pytest.raises(UsageError, match="did you mean 'cs-tv'"):
        resolve_parameters("cs-tvv", {})
