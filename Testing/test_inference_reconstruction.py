"""Reconstruction pipeline: fastMRI masks (file's own or seeded by name), zero-filling, model, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.errors import InputError, ModelError
from condswin.inference import InferenceOptions, reconstruct_fastmri, reconstruct_mr_image
from condswin.metrics import reconstruction_metrics
from condswin.models import build_model
from condswin.mri.fastmri import write
from condswin.mri.fft import ifft2c
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace, zero_filled
from condswin.mri.masks import MaskSpec, create_mask, fastmri_seed


def _fully_sampled(path: Path, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kspace = simulate_singlecoil_kspace(volume, seed=1, kspace_shape=(48, 40))
    target = np.abs(center_crop(ifft2c(kspace), (32, 32))).astype(np.float32)
    write(path, kspace, target=target, spacing=(3.0, 0.5, 0.6))
    return kspace, target


def test_fully_sampled_file_gets_fastmri_seeded_mask(tmp_path: Path, mr_volume) -> None:
    path = tmp_path / "file1000001.h5"
    kspace, target = _fully_sampled(path, mr_volume(2, 32, 1.0))
    result = reconstruct_fastmri(path, mask=MaskSpec("random", 4))
    expected_mask, num_low = create_mask("random", 40, 4, None, seed=fastmri_seed(path.name))
    np.testing.assert_array_equal(result.mask, expected_mask)
    assert result.num_low_frequencies == num_low and not result.from_file_mask
    np.testing.assert_allclose(
        result.zero_filled, zero_filled(kspace, expected_mask, crop=(32, 32)), rtol=1e-5, atol=1e-6
    )
    assert result.spacing == pytest.approx((3.0, 0.5, 0.6))
    assert result.metrics["zero_filled"] == pytest.approx(reconstruction_metrics(target, result.zero_filled))
    # a rerun is identical: the mask comes from the file name, not from a random state
    np.testing.assert_array_equal(reconstruct_fastmri(path, mask=MaskSpec(acceleration=4)).image, result.image)


def test_test_file_uses_its_own_mask_and_has_no_metrics(tmp_path: Path, mr_volume) -> None:
    kspace = simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=2, kspace_shape=(48, 40))
    mask = np.zeros(40, bool)
    mask[::3] = True
    mask[17:23] = True
    write(tmp_path / "test.h5", kspace * mask, mask=mask)
    result = reconstruct_fastmri(
        tmp_path / "test.h5", mask=MaskSpec(acceleration=8)
    )  # the file's mask wins over the option
    assert result.from_file_mask and result.metrics == {}
    np.testing.assert_array_equal(result.mask, mask)
    assert result.acceleration == pytest.approx(40 / mask.sum())


def test_model_runs_on_the_zero_filled_image(tmp_path: Path, mr_volume, make_card) -> None:
    path = tmp_path / "file1.h5"
    _fully_sampled(path, mr_volume(2, 32, 1.0))
    card = make_card("reconstruction")
    model = build_model("unet", 1, 1, chans=4, num_pool_layers=2)
    result = reconstruct_fastmri(path, model, card, options=InferenceOptions(device="cpu", batch_size=1))
    assert result.image.shape == result.zero_filled.shape == (2, 32, 32)
    assert not np.allclose(result.image, result.zero_filled)
    assert set(result.metrics) == {"model", "zero_filled"}
    assert result.info is not None and result.info.device == "cpu"


def test_mr_volume_reconstruction_keeps_geometry_and_scores_against_input(mr_volume) -> None:
    volume = mr_volume(3, 24)
    image = sitk.GetImageFromArray(volume.astype(np.float32))
    image.SetSpacing((0.9, 1.1, 5.0))
    image.SetOrigin((3.0, -7.0, 11.0))
    image.SetDirection((0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0))  # a sagittal acquisition
    result = reconstruct_mr_image(image, mask=MaskSpec(acceleration=4, seed=5), phase_seed=6)
    out = result.output
    assert (out.GetSize(), out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        image.GetSize(),
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
    )
    assert result.spacing == pytest.approx((5.0, 1.1, 0.9))
    assert 0.0 < result.metrics["zero_filled"]["nmse"] < 0.5
    again = reconstruct_mr_image(image, mask=MaskSpec(acceleration=4, seed=5), phase_seed=6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(again.output), sitk.GetArrayFromImage(out))
    with pytest.raises(InputError, match="cannot be negative"):
        reconstruct_mr_image(sitk.GetImageFromArray(-np.ones((2, 8, 8), np.float32)))


def test_real_kspace_sample(shared_data: Path) -> None:
    result = reconstruct_fastmri(shared_data / "kspace" / "phantom_twix_gre_vcoil.h5", mask=MaskSpec(acceleration=4))
    assert result.image.shape == (1, 320, 320)
    # zero-filling at 4x loses detail but keeps the image: fastMRI-style SSIM well above chance
    assert 0.3 < result.metrics["zero_filled"]["ssim"] < 1.0
    assert result.metrics["zero_filled"]["psnr"] > 15.0
    faster = reconstruct_fastmri(shared_data / "kspace" / "phantom_twix_gre_vcoil.h5", mask=MaskSpec(acceleration=8))
    assert faster.acceleration > result.acceleration
    assert faster.metrics["zero_filled"]["psnr"] < result.metrics["zero_filled"]["psnr"]


def test_user_caused_problems_are_family_errors(mr_volume, make_card) -> None:
    """A model for another job, a 2-D image: clear family errors."""
    image = sitk.GetImageFromArray(mr_volume(2, 16))
    seg_card = make_card("segmentation")
    with pytest.raises(ModelError, match="is a segmentation model, not a reconstruction model"):
        reconstruct_mr_image(image, build_model("unet", 1, 3, chans=4, num_pool_layers=2), seg_card)
    with pytest.raises(InputError, match="scalar 3-D image"):
        reconstruct_mr_image(sitk.GetImageFromArray(mr_volume(1, 16)[0]))
