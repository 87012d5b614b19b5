"""k-space operations: masking without negative zeros, crops, RSS, zero filling, data consistency, simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from condswin.mri.fft import fft2c, ifft2c
from condswin.mri.kspace import (
    KSpaceDataError,
    apply_mask,
    center_crop,
    data_consistency,
    image_data_consistency,
    rss,
    simulate_singlecoil_kspace,
    zero_filled,
)


def _kspace(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) - 0.5 + 1j * (rng.standard_normal(shape) - 0.5)).astype(np.complex64)


def _mask(width, seed=1):
    return np.random.default_rng(seed).random(width) < 0.4


@pytest.mark.parametrize("use_torch", [False, True])
def test_apply_mask_zeroes_columns_without_negative_zeros(use_torch):
    k = _kspace((2, 6, 10))
    mask = _mask(10)
    masked = apply_mask(torch.from_numpy(k) if use_torch else k, mask)
    out = masked.numpy() if use_torch else masked
    np.testing.assert_array_equal(out[..., mask], k[..., mask])
    zeros = out[..., ~mask]
    assert np.all(zeros == 0)
    # k * 0 would leave -0.0 wherever k was negative; fastMRI's "+ 0.0" turns those into +0.0
    assert not np.signbit(zeros.real).any() and not np.signbit(zeros.imag).any()
    assert np.signbit((k * 0)[..., ~mask].real).any()  # the data really had negative entries
    assert out.dtype == np.complex64
    assert np.array_equal(k, _kspace((2, 6, 10)))  # input untouched


def test_apply_mask_rejects_wrong_width():
    with pytest.raises(ValueError, match="columns"):
        apply_mask(_kspace((4, 8)), np.ones(7, bool))


@pytest.mark.parametrize("size, crop", [((10, 9), (4, 4)), ((9, 10), (3, 5)), ((8, 8), (8, 8))])
def test_center_crop_placement(size, crop):
    x = np.arange(size[0] * size[1]).reshape(size)
    out = center_crop(x, crop)
    top, left = (size[0] - crop[0]) // 2, (size[1] - crop[1]) // 2
    assert out.shape == crop
    assert out[0, 0] == x[top, left]
    np.testing.assert_array_equal(center_crop(torch.from_numpy(x), crop).numpy(), out)


def test_center_crop_rejects_larger_crop():
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(np.zeros((4, 4)), (5, 4))


def test_rss_and_multicoil_zero_filled():
    rng = np.random.default_rng(3)
    coils = (rng.standard_normal((4, 12, 10)) + 1j * rng.standard_normal((4, 12, 10))).astype(np.complex64)
    np.testing.assert_allclose(rss(coils, axis=0), np.sqrt((np.abs(coils) ** 2).sum(0)), rtol=1e-6)
    k = fft2c(coils)[None]  # (slices=1, coils, H, W)
    recon = zero_filled(k, crop=(8, 8), coil_axis=1)
    np.testing.assert_allclose(recon[0], center_crop(rss(coils, axis=0), (8, 8)), rtol=1e-5)
    recon_t = zero_filled(torch.from_numpy(k), crop=(8, 8), coil_axis=1)
    np.testing.assert_allclose(recon_t.numpy(), recon, rtol=1e-5)


def test_zero_filled_full_mask_recovers_and_undersampling_degrades():
    rng = np.random.default_rng(4)
    image = rng.random((2, 16, 16))
    k = fft2c(image.astype(np.complex128))
    np.testing.assert_allclose(zero_filled(k), image, atol=1e-12)
    mask = np.zeros(16, bool)
    mask[6:10] = True
    degraded = zero_filled(k, mask=mask)
    assert np.abs(degraded - image).mean() > 0.05


def test_hard_and_soft_data_consistency():
    pred, meas = _kspace((3, 8, 12), 5), _kspace((3, 8, 12), 6)
    mask = _mask(12)
    meas = apply_mask(meas, mask)
    hard = data_consistency(pred, meas, mask)
    np.testing.assert_array_equal(hard[..., mask], meas[..., mask])
    np.testing.assert_array_equal(hard[..., ~mask], pred[..., ~mask])
    soft = data_consistency(pred, meas, mask, noise_lambda=3.0)
    np.testing.assert_allclose(soft[..., mask], (pred[..., mask] + 3 * meas[..., mask]) / 4, rtol=1e-6)
    np.testing.assert_array_equal(soft[..., ~mask], pred[..., ~mask])
    hard_t = data_consistency(torch.from_numpy(pred), torch.from_numpy(meas), torch.from_numpy(mask))
    np.testing.assert_allclose(hard_t.numpy(), hard, atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        data_consistency(pred, meas[:1], mask)
    with pytest.raises(ValueError, match="noise_lambda"):
        data_consistency(pred, meas, mask, noise_lambda=-1)


def test_image_data_consistency_restores_measured_columns():
    rng = np.random.default_rng(7)
    truth = rng.random((16, 16)) * np.exp(1j * rng.random((16, 16)))
    mask = _mask(16, 8)
    measured = apply_mask(fft2c(truth), mask)
    guess = np.zeros_like(truth)
    corrected = image_data_consistency(guess, measured, mask)
    np.testing.assert_allclose(fft2c(corrected)[..., mask], measured[..., mask], atol=1e-12)
    # with every column measured, one step gives the truth back
    full = image_data_consistency(guess, fft2c(truth), np.ones(16, bool))
    np.testing.assert_allclose(full, truth, atol=1e-12)


def test_simulated_kspace_reproduces_magnitude_with_smooth_phase():
    yy, xx = np.mgrid[:48, :40]
    magnitude = np.stack([((yy - 24) ** 2 + (xx - 20) ** 2 < 15**2) * (1.0 + s) for s in range(3)]).astype(np.float32)
    k = simulate_singlecoil_kspace(magnitude, seed=11, kspace_shape=(64, 48))
    assert k.dtype == np.complex64 and k.shape == (3, 64, 48)
    image = center_crop(ifft2c(k), (48, 40))
    np.testing.assert_allclose(np.abs(image), magnitude, atol=1e-4)
    phase = np.angle(image[0])[magnitude[0] > 0]
    assert phase.std() > 0.05  # a real phase, not a Hermitian k-space
    # smooth: neighbouring pixels inside the object differ far less than the phase range
    inside = magnitude[0] > 0
    step = np.abs(np.angle(image[0, 1:] * np.conj(image[0, :-1])))[inside[1:] & inside[:-1]]
    assert step.max() < 0.2 * (phase.max() - phase.min())
    np.testing.assert_array_equal(k, simulate_singlecoil_kspace(magnitude, seed=11, kspace_shape=(64, 48)))
    assert not np.array_equal(k, simulate_singlecoil_kspace(magnitude, seed=12, kspace_shape=(64, 48)))


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.full((8, 8), np.nan), {}, "NaN"),
        (-np.ones((8, 8)), {}, "negative"),
        (np.ones((8, 8), dtype=np.complex64), {}, "real image"),
        (np.ones(8), {}, "real image"),
        (np.ones((8, 8)), {"kspace_shape": (4, 8)}, "smaller"),
    ],
)
def test_simulation_rejects_bad_input(image, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        simulate_singlecoil_kspace(image, **kwargs)
    # Bad values are the user's data (an input error, exit 3); bad shapes and types are the caller's bug.
    assert isinstance(info.value, KSpaceDataError) == (message in ("NaN", "negative"))
