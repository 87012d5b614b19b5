"""condswin.mri.noise: noise statistics, σ relative to the maximum, seeds, the Rician σ estimate, bias correction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.restoration import estimate_sigma
from synthetic_images import brain_phantom

from condswin.mri.noise import (
    NoiseEstimateError,
    add_gaussian,
    add_rician,
    estimate_rician_sigma,
    rician_bias_correction,
)

# --- Gaussian noise ------------------------------------------------------------------------------------------------


def test_gaussian_noise_has_zero_mean_and_sigma_times_max_std():
    x = np.full((256, 256), 2.0, dtype=np.float32)
    noise = add_gaussian(x, 0.1, seed=3) - x
    assert abs(noise.mean()) < 0.01
    assert noise.std() == pytest.approx(0.1 * 2.0, rel=0.02)


def test_sigma_is_relative_to_the_image_maximum():
    x = brain_phantom(64)
    scaled = add_rician(10.0 * x, 0.05, seed=7)
    assert np.allclose(scaled, 10.0 * add_rician(x, 0.05, seed=7), rtol=1e-5, atol=1e-5)
    assert np.allclose(add_gaussian(10.0 * x, 0.05, seed=7), 10.0 * add_gaussian(x, 0.05, seed=7), atol=1e-5)


def test_reference_sets_sigma_in_image_units():
    x = np.zeros((200, 200))
    noise = add_gaussian(x, 0.3, seed=1, reference=1.0)
    assert noise.std() == pytest.approx(0.3, rel=0.02)


# --- Rician noise --------------------------------------------------------------------------------------------------


def test_rician_noise_of_a_zero_image_is_rayleigh():
    sigma = 0.2
    m = add_rician(np.zeros((300, 300)), sigma, seed=0, reference=1.0)
    assert m.min() >= 0
    assert m.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.01)
    assert (m**2).mean() == pytest.approx(2 * sigma**2, rel=0.01)


@pytest.mark.parametrize("signal", [0.3, 1.0, 4.0])
def test_rician_second_moment_is_signal_squared_plus_two_sigma_squared(signal):
    sigma = 0.25
    m = add_rician(np.full((300, 300), signal), sigma, seed=2, reference=1.0)
    assert (m.astype(np.float64) ** 2).mean() == pytest.approx(signal**2 + 2 * sigma**2, rel=0.01)


@pytest.mark.parametrize("add_noise", [add_gaussian, add_rician])
def test_seed_determinism(add_noise):
    x = brain_phantom(48)
    assert np.array_equal(add_noise(x, 0.1, seed=5), add_noise(x, 0.1, seed=5))
    assert not np.array_equal(add_noise(x, 0.1, seed=5), add_noise(x, 0.1, seed=6))
    assert np.array_equal(add_noise(x, 0.1, seed=np.random.default_rng(9)), add_noise(x, 0.1, seed=9))
    assert not np.array_equal(add_noise(x, 0.1), add_noise(x, 0.1))


@pytest.mark.parametrize("add_noise", [add_gaussian, add_rician])
def test_noise_leaves_input_unchanged_and_keeps_a_float_dtype(add_noise):
    x = brain_phantom(32)
    before = x.copy()
    assert add_noise(x, 0.1, seed=0).dtype == np.float32
    assert np.array_equal(x, before)
    assert add_noise(x.astype(np.float64), 0.1, seed=0).dtype == np.float64
    assert add_noise((x * 255).astype(np.uint8), 0.1, seed=0).dtype == np.float32
    assert np.array_equal(add_noise(x, 0.0, seed=0), x)


@pytest.mark.parametrize("add_noise", [add_gaussian, add_rician])
def test_noise_refuses_bad_input(add_noise):
    x = brain_phantom(16)
    with pytest.raises(ValueError, match="sigma"):
        add_noise(x, -0.1)
    with pytest.raises(ValueError, match="sigma"):
        add_noise(x, float("nan"))
    bad = x.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        add_noise(bad, 0.1)
    with pytest.raises(ValueError, match="real"):
        add_noise(x.astype(np.complex64), 0.1)
    with pytest.raises(ValueError, match="reference"):
        add_noise(np.zeros((8, 8)), 0.1)
    with pytest.raises(ValueError, match="reference"):
        add_noise(x, 0.1, reference=-1.0)


# --- Rician σ estimate ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1, 0.2])
def test_rician_sigma_estimate_within_5_percent_on_phantom(sigma):
    x = brain_phantom(128)
    estimate = estimate_rician_sigma(add_rician(x, sigma, seed=11))
    assert estimate == pytest.approx(sigma * x.max(), rel=0.05)


def test_rician_sigma_estimate_pools_a_volume_and_uses_image_units():
    x = 300.0 * np.stack([brain_phantom(96)] * 3)
    noisy = add_rician(x, 0.04, seed=4)
    assert estimate_rician_sigma(noisy) == pytest.approx(0.04 * 300.0, rel=0.05)


def test_gaussian_estimator_underestimates_rician_noise_but_ours_does_not():
    x = brain_phantom(128)
    noisy = add_rician(x, 0.08, seed=12)
    assert estimate_sigma(noisy) < 0.9 * 0.08
    assert estimate_rician_sigma(noisy) == pytest.approx(0.08, rel=0.05)


def test_rician_sigma_estimate_ignores_zero_filled_regions():
    x = brain_phantom(128)
    noisy = add_rician(x, 0.05, seed=13)
    noisy[:, :30] = 0.0  # masked strip, as after zero-filling or skull-stripping
    assert estimate_rician_sigma(noisy) == pytest.approx(0.05, rel=0.05)


def test_rician_sigma_estimate_on_real_mni_slices(shared_data):
    sitk = pytest.importorskip("SimpleITK")
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "mri" / "mni152_t1_1mm.nii.gz")))
    slices = volume[70:111:20].astype(np.float32)
    for sigma in (0.03, 0.1):
        estimate = estimate_rician_sigma(add_rician(slices, sigma, seed=21))
        assert estimate == pytest.approx(sigma * slices.max(), rel=0.05)


def test_rician_sigma_estimate_refuses_images_without_air():
    filled = add_rician(np.ones((96, 96)), 0.05, seed=0)
    # Data the noise cannot be measured on is a problem of the input (CLI exit 3), not a bug.
    with pytest.raises(NoiseEstimateError, match="sigma explicitly"):
        estimate_rician_sigma(filled)
    with pytest.raises(NoiseEstimateError, match="sigma explicitly"):
        estimate_rician_sigma(brain_phantom(96))  # noise-free: the air is exactly zero


def test_rician_sigma_estimate_refuses_bad_input():
    x = add_rician(brain_phantom(64), 0.05, seed=0)
    with pytest.raises(ValueError, match="non-negative"):
        estimate_rician_sigma(x - 0.5)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        estimate_rician_sigma(x.ravel())
    with pytest.raises(ValueError, match="2-D or 3-D"):
        estimate_rician_sigma(x[None, None])
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        estimate_rician_sigma(bad)
    before = x.copy()
    estimate_rician_sigma(x)
    assert np.array_equal(x, before)


# --- bias correction -----------------------------------------------------------------------------------------------


def test_bias_correction_formula_and_clipping():
    u = np.array([0.0, 1.0, 1.5, 3.0])
    corrected = rician_bias_correction(u, 1.0)
    expected = np.sqrt(np.maximum(u**2 - 2.0, 0.0))
    assert np.allclose(corrected, expected)
    assert corrected[1] == 0.0 and corrected[3] == pytest.approx(math.sqrt(7.0))
    assert np.array_equal(u, [0.0, 1.0, 1.5, 3.0])
    assert np.array_equal(rician_bias_correction(u, 0.0), u)


def test_bias_correction_removes_the_noise_floor_of_a_smoothed_rician_image():
    sigma, signal = 0.1, 0.1  # SNR 1: the Rician floor dominates, which is where the correction pays off
    clean = np.zeros((200, 200))
    clean[:, 100:] = signal
    smoothed = ndimage.uniform_filter(add_rician(clean, sigma, seed=1, reference=1.0).astype(np.float64), 9)
    corrected = rician_bias_correction(smoothed, sigma)
    air, tissue = (slice(20, 180), slice(10, 90)), (slice(20, 180), slice(110, 190))
    assert smoothed[air].mean() > sigma  # the Rician floor: σ·√(π/2) ≈ 1.25σ
    assert corrected[air].mean() < 0.3 * smoothed[air].mean()
    assert abs(corrected[tissue].mean() - signal) < abs(smoothed[tissue].mean() - signal)


def test_bias_correction_refuses_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        rician_bias_correction(np.ones(4), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        rician_bias_correction(np.array([1.0, np.nan]), 0.1)
