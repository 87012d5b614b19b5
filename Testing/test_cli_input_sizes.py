"""Images too small for a job: exit code 3 naming the file, before any work, never a traceback (exit 70) nor a
result made up from a few voxels; a model that needs larger slices than an image has is refused the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from cli_support import run_cli

from condswin.bundles import card_template, save_bundle
from condswin.inference.orientation import MIN_SLICE_SIZE
from condswin.io.images import write_image
from condswin.models import build_model


def _image(path: Path, shape: tuple[int, int, int], dtype=np.float32) -> Path:
    """A noisy image of numpy ``shape`` (slices, rows, columns)."""
    array = (100 + 20 * np.random.default_rng(0).standard_normal(shape)).astype(dtype)
    write_image(sitk.GetImageFromArray(array), path)
    return path


def _refused(code: int, err: str, source: Path, out: Path) -> None:
    assert code == 3, err
    assert "too small" in err and str(source) in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 2, 2), (1, 1, 8), (8, 1, 1), (3, 40, MIN_SLICE_SIZE - 1)])
def test_denoise_refuses_slices_below_the_minimum(shape, tmp_path: Path, capsys) -> None:
    source = _image(tmp_path / "tiny.nii.gz", shape)
    out = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "denoise", source, out, "--method", "gaussian")
    _refused(code, err, source, out)


def test_segment_and_reconstruct_refuse_a_one_voxel_image(make_bundle, tmp_path: Path, capsys) -> None:
    # A model on a fixed 32 x 32 grid takes any slice, resampled: the job's own minimum has to refuse it.
    bundle = make_bundle(tmp_path / "bundle", "segmentation", size=[32, 32])
    source = _image(tmp_path / "voxel.nii.gz", (1, 1, 1), np.int16)
    out = tmp_path / "labels.nii.gz"
    code, _, err = run_cli(capsys, "segment", source, out, "--model", bundle)
    _refused(code, err, source, out)  # not "1 tumour, burden 100 %"
    out = tmp_path / "rec.nii.gz"
    code, _, err = run_cli(capsys, "reconstruct", source, out, "--model", "zero-filled")
    _refused(code, err, source, out)


def test_the_smallest_accepted_slices_are_processed(tmp_path: Path, capsys) -> None:
    source = _image(tmp_path / "small.nii.gz", (2, MIN_SLICE_SIZE, MIN_SLICE_SIZE))
    code, _, err = run_cli(
        capsys, "denoise", source, tmp_path / "out.nii.gz", "--method", "gaussian", "--noise", "gaussian"
    )
    assert code == 0, err


def test_a_model_that_needs_larger_slices_than_the_image_has_is_a_bad_input(tmp_path: Path, capsys) -> None:
    # 2x2 space-to-depth around a 3-pool U-Net: 32 pixels a side at least, a size only the wrapped network states.
    model = build_model("residual_denoiser", 1, 1, inner="unet", inner_config={"chans": 2, "num_pool_layers": 3})
    card = card_template("deep-denoiser", "denoising", training_data="none: test model", training_command="pytest")
    save_bundle(model, card, tmp_path / "bundle")
    source = _image(tmp_path / "mr.nii.gz", (2, 24, 24))
    out = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "denoise", source, out, "--method", tmp_path / "bundle")
    _refused(code, err, source, out)
    assert "24×24" in err and "too small for this model" in err
