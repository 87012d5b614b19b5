"""condswin.denoise: every method slice-wise on volumes, error reduction, Rician handling, parameters, bad input."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from synthetic_images import brain_phantom

from condswin.denoise import denoise, estimate_noise_sigma, list_methods, method_parameters
from condswin.mri.noise import add_gaussian, add_rician, estimate_rician_sigma, rician_bias_correction

DENOISERS = [m for m in list_methods() if m != "clahe"]


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - estimate) ** 2))
    return 10 * np.log10(float(reference.max()) ** 2 / mse)


@pytest.fixture(scope="module")
def noisy_volume() -> np.ndarray:
    """Three 48×48 noisy slices that share min and max, so a slice alone is scaled exactly as in the volume."""
    clean = np.stack([brain_phantom(48), brain_phantom(48)[::-1], brain_phantom(48)[:, ::-1]])
    noisy = add_gaussian(clean, 0.1, seed=1)
    low, high = noisy.min(), noisy.max()
    noisy[:, 0, 0], noisy[:, 0, 1] = low, high
    return noisy


def test_list_methods_covers_the_design():
    expected = {
        "mean",
        "gaussian",
        "median",
        "wiener",
        "bilateral",
        "tv",
        "wavelet",
        "wavelet_cycle_spinning",
        "nlm",
        "bm3d",
        "clahe",
    }
    assert set(list_methods()) == expected
    for name in expected:
        assert isinstance(method_parameters(name), dict)
    assert method_parameters("mean") == {"size": 3}


def test_no_method_parameter_shadows_an_argument_of_denoise():
    own_arguments = set(inspect.signature(denoise).parameters) - {"params"}
    for name in list_methods():
        assert not own_arguments & set(method_parameters(name)), name


@pytest.mark.parametrize("method", list_methods())
def test_every_method_runs_slice_wise_and_leaves_input_unchanged(method, noisy_volume):
    before = noisy_volume.copy()
    out = denoise(noisy_volume, method, sigma=0.1)
    assert out.shape == noisy_volume.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(noisy_volume, before)
    assert not np.allclose(out, noisy_volume)
    single = denoise(noisy_volume[1], method, sigma=0.1)
    assert single.shape == noisy_volume.shape[1:]
    if method == "clahe":  # each slice is stretched on its own; compare after undoing the output range
        single = (single - single.min()) / np.ptp(single)
        sliced = (out[1] - out[1].min()) / np.ptp(out[1])
        assert np.allclose(single, sliced, atol=2e-3)
    else:
        assert np.allclose(single, out[1], atol=1e-5)


@pytest.mark.parametrize("method", DENOISERS)
def test_every_denoiser_reduces_gaussian_noise(method):
    clean = brain_phantom(96)
    noisy = add_gaussian(clean, 0.1, seed=3)
    out = denoise(noisy, method, sigma=0.1)
    assert psnr(clean, out) > psnr(clean, noisy) + 1.0


@pytest.mark.parametrize("method", ["tv", "nlm"])
def test_sigma_drives_the_filter_strength(method):
    noisy = add_gaussian(brain_phantom(64), 0.1, seed=4)
    weak, strong = denoise(noisy, method, sigma=0.02), denoise(noisy, method, sigma=0.2)
    assert np.abs(np.diff(strong, axis=1)).mean() < np.abs(np.diff(weak, axis=1)).mean()


def test_intensity_scale_does_not_change_the_result():
    noisy = add_gaussian(brain_phantom(64), 0.08, seed=5)
    small = denoise(noisy, "nlm", sigma=0.08)
    large = denoise(1000.0 * noisy, "nlm", sigma=80.0)
    assert np.allclose(large, 1000.0 * small, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("method", DENOISERS)
def test_rician_bias_correction_improves_every_denoiser(method):
    clean = brain_phantom(96)
    noisy = add_rician(clean, 0.1, seed=6)
    corrected = denoise(noisy, method, noise="rician", sigma=0.1)
    uncorrected = denoise(noisy, method, noise="gaussian", sigma=0.1)
    assert psnr(clean, corrected) > psnr(clean, uncorrected) + 1.0


def test_rician_correction_follows_the_filter_and_precedes_clahe():
    noisy = add_rician(brain_phantom(64), 0.1, seed=7)
    after = rician_bias_correction(denoise(noisy, "median", sigma=0.1), 0.1)
    assert np.allclose(denoise(noisy, "median", noise="rician", sigma=0.1), after, atol=1e-6)
    before = denoise(rician_bias_correction(noisy, 0.1), "clahe")
    assert np.allclose(denoise(noisy, "clahe", noise="rician", sigma=0.1), before, atol=1e-6)


def test_rician_sigma_is_estimated_from_the_air_when_not_given():
    noisy = 250.0 * add_rician(brain_phantom(96), 0.08, seed=8)
    assert estimate_noise_sigma(noisy, "rician") == pytest.approx(0.08 * 250.0, rel=0.05)
    assert estimate_noise_sigma(noisy, "gaussian") < 0.9 * 0.08 * 250.0  # why Rician needs its own estimate
    auto = denoise(noisy, "wavelet", noise="rician")
    given = denoise(noisy, "wavelet", noise="rician", sigma=estimate_rician_sigma(noisy))
    assert np.allclose(auto, given)


def test_gaussian_sigma_is_estimated_when_not_given():
    noisy = add_gaussian(brain_phantom(96), 0.05, seed=9)
    assert estimate_noise_sigma(noisy, "gaussian") == pytest.approx(0.05, rel=0.15)
    auto = denoise(noisy, "bilateral")
    given = denoise(noisy, "bilateral", sigma=estimate_noise_sigma(noisy))
    assert np.allclose(auto, given)


def test_bias_corrected_bm3d_beats_uncorrected_on_real_mri(shared_data):
    sitk = pytest.importorskip("SimpleITK")
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "mri" / "mni152_t1_1mm.nii.gz")))
    clean = volume[90, 20:212:2, 0:192:2].astype(np.float32)  # one axial slice, 96×96 at 2 mm
    noisy = add_rician(clean, 0.1, seed=10)
    corrected = denoise(noisy, "bm3d", noise="rician")  # σ estimated from the air
    uncorrected = denoise(noisy, "bm3d", noise="gaussian", sigma=estimate_rician_sigma(noisy))
    assert psnr(clean, corrected) > psnr(clean, uncorrected) + 1.0
    assert psnr(clean, corrected) > psnr(clean, noisy) + 3.0


def test_clahe_raises_local_contrast():
    image = np.full((96, 96), 0.5)
    image[30:60, 30:60] = 0.52  # a faint square in a mostly uniform image
    image[:, :10] = 1.0  # a bright edge that takes up the global range
    out = denoise(image, "clahe")
    contrast_in = (image[40:50, 40:50].mean() - image[70:80, 40:50].mean()) / np.ptp(image)
    contrast_out = (out[40:50, 40:50].mean() - out[70:80, 40:50].mean()) / np.ptp(out)
    assert contrast_out > 1.5 * contrast_in


def test_progress_is_reported_per_slice(noisy_volume):
    calls: list[tuple[int, int]] = []
    denoise(noisy_volume, "median", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_methods_that_ignore_sigma_run_on_noise_free_images_and_others_ask_for_sigma():
    clean = brain_phantom(48)
    assert denoise(clean, "median").shape == clean.shape
    for constant in (np.ones((32, 32)), np.zeros((2, 32, 32))):
        with pytest.raises(ValueError, match="pass sigma"):
            denoise(constant, "nlm")


def test_unknown_method_noise_or_parameter_lists_what_is_accepted(noisy_volume):
    with pytest.raises(ValueError, match="accepted: mean, gaussian.*bm3d, clahe"):
        denoise(noisy_volume, "anisotropic")
    with pytest.raises(ValueError, match="gaussian, rician"):
        denoise(noisy_volume, "median", noise="poisson")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) radius.*size=3"):
        denoise(noisy_volume, "median", radius=2)


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("mean", {"size": 0}, "size must be a positive integer"),
        ("median", {"size": 2.5}, "size must be a positive integer"),
        ("gaussian", {"kernel_sigma": -1.0}, "kernel_sigma"),
        ("tv", {"weight_factor": float("nan")}, "weight_factor"),
        ("wavelet", {"wavelet": "nope"}, "wavelet must be"),
        ("wavelet", {"shrinkage": "SureShrink"}, "BayesShrink"),
        ("wavelet_cycle_spinning", {"max_shifts": -1}, "max_shifts"),
        ("nlm", {"patch_size": 0}, "patch_size"),
        ("bm3d", {"profile": "fast"}, "profile must be one of"),
        ("clahe", {"clip_limit": 2.0}, "clip_limit"),
    ],
)
def test_bad_parameter_values_are_refused(method, params, message, noisy_volume):
    with pytest.raises(ValueError, match=message):
        denoise(noisy_volume, method, sigma=0.1, **params)


def test_bad_inputs_are_refused(noisy_volume):
    bad = noisy_volume.copy()
    bad[1, 5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        denoise(bad, "median")
    with pytest.raises(ValueError, match="2-D image.*3-D volume"):
        denoise(noisy_volume[None], "median")
    with pytest.raises(ValueError, match="2-D image.*3-D volume"):
        denoise(noisy_volume[0, 0], "median")
    with pytest.raises(ValueError, match="real-valued"):
        denoise(noisy_volume.astype(np.complex64), "median")
    for sigma in (-0.1, 0.0, float("inf"), "0.1"):
        with pytest.raises(ValueError, match="sigma must be a positive"):
            denoise(noisy_volume, "nlm", sigma=sigma)
    with pytest.raises(ValueError, match="non-negative magnitude"):
        denoise(noisy_volume - 1.0, "median", noise="rician", sigma=0.1)


def test_every_parameter_has_a_rule_its_default_passes_and_unbounded_values_are_usage_errors():
    from condswin.denoise.methods import check_parameters, get_method, parameter_rules
    from condswin.errors import UsageError

    for name in list_methods():
        assert set(parameter_rules(name)) == set(method_parameters(name)), name
        check_parameters(name, method_parameters(name))  # the defaults are inside their own ranges
    for method, params, message in (
        ("median", {"size": 100000}, "size must be a positive integer up to 31"),
        ("nlm", {"h_factor": "abc"}, "h_factor must be a positive finite number"),
        ("nlm", {"h_factor": float("inf")}, "h_factor"),
        ("mean", {"size": True}, "size must be a positive integer"),
        ("clahe", {"nbins": 1}, "nbins must be an integer from 2"),
        ("bm3d", {"profile": "vn2"}, "did you mean 'vn'"),
    ):
        with pytest.raises(UsageError, match=message):
            check_parameters(method, params)
    check_parameters("gaussian", {"kernel_sigma": 2})  # an int where the default is a float
    check_parameters("clahe", {"kernel_size": None})
    with pytest.raises(UsageError, match="did you mean 'nlm'.*accepted: mean, gaussian"):
        get_method("nln")
