"""Reconstruction pipeline: fastMRI masks (file's own or seeded by name), zero-filling, model, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.bundles import card_template
from condswin.inference import InferenceOptions, reconstruct_fastmri, reconstruct_mr_image
from condswin.metrics import reconstruction_metrics
from condswin.models import build_model
from condswin.mri.fastmri import write
from condswin.mri.fft import ifft2c
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace, zero_filled
from condswin.mri.masks import create_mask, fastmri_seed


def _phantom(slices: int = 2, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    disc = ((xx / 0.7) ** 2 + (yy / 0.8) ** 2 < 1).astype(np.float32)
    return np.stack([disc * (1.0 + 0.3 * k) + 0.5 * (np.abs(xx) < 0.2) * disc for k in range(slices)])


def _fully_sampled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    kspace = simulate_singlecoil_kspace(_phantom(), seed=1, kspace_shape=(48, 40))
    target = np.abs(center_crop(ifft2c(kspace), (32, 32))).astype(np.float32)
    write(path, kspace, target=target, spacing=(3.0, 0.5, 0.6))
    return kspace, target


def test_fully_sampled_file_gets_fastmri_seeded_mask(tmp_path: Path) -> None:
    path = tmp_path / "file1000001.h5"
    kspace, target = _fully_sampled(path)
    result = reconstruct_fastmri(path, acceleration=4, mask_kind="random")
    expected_mask, num_low = create_mask("random", 40, 4, None, seed=fastmri_seed(path.name))
    np.testing.assert_array_equal(result.mask, expected_mask)
    assert result.num_low_frequencies == num_low and not result.from_file_mask
    np.testing.assert_allclose(
        result.zero_filled, zero_filled(kspace, expected_mask, crop=(32, 32)), rtol=1e-5, atol=1e-6
    )
    assert result.spacing == pytest.approx((3.0, 0.5, 0.6))
    assert result.metrics["zero_filled"] == pytest.approx(reconstruction_metrics(target, result.zero_filled))
    # a rerun is identical: the mask comes from the file name, not from a random state
    np.testing.assert_array_equal(reconstruct_fastmri(path, acceleration=4).image, result.image)


def test_test_file_uses_its_own_mask_and_has_no_metrics(tmp_path: Path) -> None:
    kspace = simulate_singlecoil_kspace(_phantom(), seed=2, kspace_shape=(48, 40))
    mask = np.zeros(40, bool)
    mask[::3] = True
    mask[17:23] = True
    write(tmp_path / "test.h5", kspace * mask, mask=mask)
    result = reconstruct_fastmri(tmp_path / "test.h5", acceleration=8)  # the file's mask wins over the option
    assert result.from_file_mask and result.metrics == {}
    np.testing.assert_array_equal(result.mask, mask)
    assert result.acceleration == pytest.approx(40 / mask.sum())


def test_model_runs_on_the_zero_filled_image(tmp_path: Path) -> None:
    path = tmp_path / "file1.h5"
    _fully_sampled(path)
    card = card_template("r", "reconstruction", training_data="x", training_command="y")
    card.update(architecture="unet", out_channels=1)
    model = build_model("unet", 1, 1, chans=4, num_pool_layers=2)
    result = reconstruct_fastmri(path, model, card, options=InferenceOptions(device="cpu", batch_size=1))
    assert result.image.shape == result.zero_filled.shape == (2, 32, 32)
    assert not np.allclose(result.image, result.zero_filled)
    assert set(result.metrics) == {"model", "zero_filled"}
    assert result.info is not None and result.info.device == "cpu"


def test_mr_volume_reconstruction_keeps_geometry_and_scores_against_input() -> None:
    volume = _phantom(slices=3, size=24) * 100.0
    image = sitk.GetImageFromArray(volume.astype(np.float32))
    image.SetSpacing((0.9, 1.1, 5.0))
    image.SetOrigin((3.0, -7.0, 11.0))
    image.SetDirection((0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0))  # a sagittal acquisition
    result = reconstruct_mr_image(image, acceleration=4, seed=5, phase_seed=6)
    out = result.output
    assert (out.GetSize(), out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        image.GetSize(),
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
    )
    assert result.spacing == pytest.approx((5.0, 1.1, 0.9))
    assert 0.0 < result.metrics["zero_filled"]["nmse"] < 0.5
    again = reconstruct_mr_image(image, acceleration=4, seed=5, phase_seed=6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(again.output), sitk.GetArrayFromImage(out))
    with pytest.raises(ValueError, match="cannot be negative"):
        reconstruct_mr_image(sitk.GetImageFromArray(-np.ones((2, 8, 8), np.float32)))


@pytest.mark.shared_data
def test_real_kspace_sample(shared_data: Path) -> None:
    result = reconstruct_fastmri(shared_data / "kspace" / "phantom_twix_gre_vcoil.h5", acceleration=4)
    assert result.image.shape == (1, 320, 320)
    # zero-filling at 4x loses detail but keeps the image: fastMRI-style SSIM well above chance
    assert 0.3 < result.metrics["zero_filled"]["ssim"] < 1.0
    assert result.metrics["zero_filled"]["psnr"] > 15.0
    faster = reconstruct_fastmri(shared_data / "kspace" / "phantom_twix_gre_vcoil.h5", acceleration=8)
    assert faster.acceleration > result.acceleration
    assert faster.metrics["zero_filled"]["psnr"] < result.metrics["zero_filled"]["psnr"]
