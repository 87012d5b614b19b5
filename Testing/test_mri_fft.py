"""Centred orthonormal FFTs: numpy and torch agree, Parseval holds, DC sits at the centre, inverses invert."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from condswin.mri.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c


def _complex_image(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.mark.parametrize("shape", [(8, 8), (2, 7, 10), (2, 3, 9, 6)])
def test_numpy_and_torch_agree_and_invert(shape):
    x = _complex_image(shape)
    k_np = fft2c(x)
    k_t = fft2c(torch.from_numpy(x))
    assert isinstance(k_t, torch.Tensor) and k_t.dtype == torch.complex64
    assert k_np.dtype == np.complex64
    np.testing.assert_allclose(k_t.numpy(), k_np, atol=1e-5)
    np.testing.assert_allclose(ifft2c(k_np), x, atol=1e-5)
    np.testing.assert_allclose(ifft2c(k_t).numpy(), x, atol=1e-5)


def test_parseval_orthonormal():
    x = _complex_image((3, 16, 12)).astype(np.complex128)
    k = fft2c(x)
    np.testing.assert_allclose(np.linalg.norm(k), np.linalg.norm(x), rtol=1e-12)


@pytest.mark.parametrize("h, w", [(8, 8), (7, 9)])
def test_dc_lands_at_array_centre(h, w):
    # a constant image has all its energy at zero frequency, which fastMRI's convention puts at (H//2, W//2)
    k = fft2c(np.ones((h, w), dtype=np.complex128))
    peak = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    assert peak == (h // 2, w // 2)
    assert np.isclose(abs(k[h // 2, w // 2]), np.sqrt(h * w))
    assert np.abs(k).sum() == pytest.approx(np.sqrt(h * w), rel=1e-9)


def test_matches_shift_fft_shift_definition_with_odd_sizes():
    x = _complex_image((5, 7)).astype(np.complex128)
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x))) / np.sqrt(x.size)
    np.testing.assert_allclose(fft2c(x), expected, atol=1e-12)
    expected_inv = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x))) * np.sqrt(x.size)
    np.testing.assert_allclose(ifft2c(x), expected_inv, atol=1e-12)


def test_channels_round_trip_numpy_and_torch():
    x = _complex_image((2, 6, 5))
    ch = complex_to_channels(x)
    assert ch.shape == (2, 2, 6, 5)
    np.testing.assert_array_equal(ch[:, 0], x.real)
    np.testing.assert_array_equal(ch[:, 1], x.imag)
    np.testing.assert_array_equal(channels_to_complex(ch), x)
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(channels_to_complex(complex_to_channels(xt)).numpy(), x)


def test_rejects_one_dimensional_input():
    with pytest.raises(ValueError, match="at least 2 dims"):
        fft2c(np.zeros(8, dtype=np.complex64))
    with pytest.raises(ValueError, match="size-2"):
        channels_to_complex(np.zeros((3, 4, 4)))
