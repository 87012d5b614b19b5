"""condswin.jobs: the three jobs return results of one shape (output image, JSON report, notices) with the
report keys the command line writes, keep the input's geometry, and refuse what does not fit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from condswin.bundles import Code, Label, LoadedModel, Terminology, load_bundle, read_bundle
from condswin.ct.phantom import make_phantom
from condswin.errors import ModelError, UsageError
from condswin.inference import InferenceOptions
from condswin.io.images import write_image
from condswin.jobs import (
    DenoisingJobResult,
    JobResult,
    ReconstructionJobResult,
    SegmentationJobResult,
    denoise,
    reconstruct_file,
    reconstruct_image,
    segment,
)
from condswin.mri.fastmri import write
from condswin.mri.fft import ifft2c
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSpec
from condswin.mri.noise import add_rician

CPU = InferenceOptions(device="cpu", batch_size=4)
RECON_KEYS = {
    "acceleration",
    "sampled_columns",
    "columns",
    "mask_from_file",
    "num_low_frequencies",
    "shape",
    "spacing_mm",
    "metrics",
    "device",
    "notices",
    "model",
    "mask_kind",
}


@pytest.fixture(scope="module")
def loaded(tiny_bundles: dict[str, Path]) -> dict[str, LoadedModel]:
    return {task: load_bundle(read_bundle(path)) for task, path in tiny_bundles.items()}


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize(), a.GetSpacing(), a.GetOrigin(), a.GetDirection()) == (
        b.GetSize(),
        b.GetSpacing(),
        b.GetOrigin(),
        b.GetDirection(),
    )


def _check_shape(result: JobResult) -> None:
    """The one shape: an image, a report that survives JSON unchanged, notices as strings."""
    assert isinstance(result.output, sitk.Image)
    assert json.loads(json.dumps(result.report)) == result.report
    assert isinstance(result.notices, list) and all(isinstance(n, str) for n in result.notices)


def _mr_image(volume: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(volume.astype(np.float32))
    image.SetSpacing((0.9, 1.1, 4.0))
    image.SetOrigin((3.0, -7.0, 11.0))
    return image


def test_segmentation_job(loaded: dict[str, LoadedModel]) -> None:
    ct, _ = make_phantom(3, shape=(40, 36, 8), spacing=(0.8, 1.1, 3.0), num_tumours=1, geometry="tilted")
    stages: list[str] = []
    result = segment(ct, loaded["segmentation"], CPU, on_stage=lambda stage, message: stages.append(stage))
    assert isinstance(result, SegmentationJobResult)
    _check_shape(result)
    assert _same_grid(result.output, ct) and result.output.GetPixelID() == sitk.sitkUInt8
    assert stages == ["postprocess", "report"] and result.postprocessed and result.report["postprocessed"]
    report = result.report
    assert report["model"] == {"id": "tiny-segmentation", "version": "0.1.0", "architecture": "unet"}
    assert report["labels"] == {"1": "liver", "2": "liver tumor"}
    assert {"liver_ml", "tumour_count", "tumour_ml", "tumour_burden_percent", "device", "notices"} <= set(report)

    assert "score_offsets" not in report  # the card has none

    raw = segment(ct, loaded["segmentation"], CPU, postprocess=False)
    assert not raw.postprocessed and raw.report["postprocessed"] is False


def test_segmentation_report_states_the_cards_score_offsets(loaded: dict[str, LoadedModel]) -> None:
    ct, _ = make_phantom(3, shape=(40, 36, 8), spacing=(0.8, 1.1, 3.0), num_tumours=1)
    plain = loaded["segmentation"]
    contract = dataclasses.replace(plain.card.contract, score_offsets=(0.0, 0.0, 1.5))
    bundle = dataclasses.replace(plain.bundle, card=dataclasses.replace(plain.card, contract=contract))
    result = segment(ct, LoadedModel(model=plain.model, bundle=bundle), CPU)
    assert result.report["score_offsets"] == [0.0, 0.0, 1.5]


class _Background(torch.nn.Module):
    """A segmentation network that finds nothing: every pixel background."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 3, *x.shape[2:], dtype=x.dtype)
        logits[:, 0] = 1.0
        return logits


def test_a_scan_without_a_liver_gets_a_notice_not_an_error(loaded: dict[str, LoadedModel]) -> None:
    """A head CT (or any scan where the model finds under 300 mL of liver) is segmented, and the report warns."""
    ct = make_phantom(5, shape=(32, 32, 8), spacing=(1.0, 1.0, 3.0), region="head")[0]
    seg = loaded["segmentation"]
    empty = segment(ct, LoadedModel(model=_Background(), bundle=seg.bundle), CPU)
    assert empty.report["liver_ml"] == 0 and not sitk.GetArrayViewFromImage(empty.output).any()
    assert any("no liver was found" in n and "may not be an abdominal CT" in n for n in empty.notices)
    assert empty.report["notices"] == empty.notices


def test_segmentation_job_measures_every_label_of_a_non_lits_card(loaded: dict[str, LoadedModel]) -> None:
    ct, _ = make_phantom(4, shape=(24, 24, 8), spacing=(1.0, 1.0, 2.0), num_tumours=0)
    seg = loaded["segmentation"]
    code = Code("SCT", "12738006", "Brain")
    labels = (
        Label(1, "left", (1, 2, 3), Terminology(code, code)),
        Label(2, "right", (4, 5, 6), Terminology(code, code)),
    )
    card = seg.card.replace(contract=dataclasses.replace(seg.card.contract, labels=labels, postprocess="none"))
    other = LoadedModel(model=seg.model, bundle=dataclasses.replace(seg.bundle, card=card))
    result = segment(ct, other, CPU)
    counts = np.bincount(sitk.GetArrayViewFromImage(result.output).ravel(), minlength=3)
    assert result.report["volumes_ml"] == pytest.approx({"left": counts[1] * 0.002, "right": counts[2] * 0.002})
    assert "liver_ml" not in result.report and not result.postprocessed


def test_reconstruction_jobs(tmp_path: Path, loaded: dict[str, LoadedModel], mr_volume) -> None:
    volume = mr_volume(3, 32)
    kspace = simulate_singlecoil_kspace(volume, seed=3, kspace_shape=(40, 36))
    target = np.abs(center_crop(ifft2c(kspace), (32, 32))).astype(np.float32)
    write(tmp_path / "file1.h5", kspace, target=target, spacing=(3.0, 0.5, 0.7))
    from_file = reconstruct_file(tmp_path / "file1.h5", loaded["reconstruction"], CPU, mask=MaskSpec(acceleration=4))
    assert isinstance(from_file, ReconstructionJobResult)
    _check_shape(from_file)
    assert set(from_file.report) == RECON_KEYS
    assert from_file.report["model"] == {"id": "tiny-reconstruction", "version": "0.1.0"}
    assert from_file.report["mask_kind"] == "random" and set(from_file.report["metrics"]) == {"model", "zero_filled"}
    assert from_file.output.GetSpacing() == pytest.approx((0.7, 0.5, 3.0))  # x = columns
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(from_file.output), from_file.details.image)

    image = _mr_image(volume)
    baseline = reconstruct_image(image, None, mask=MaskSpec("equispaced_fraction", 4, seed=1), phase_seed=2)
    _check_shape(baseline)
    assert set(baseline.report) == RECON_KEYS and baseline.report["model"] == "zero-filled"
    assert _same_grid(baseline.output, image) and baseline.notices == []


def test_denoising_jobs(tmp_path: Path, loaded: dict[str, LoadedModel], mr_volume) -> None:
    clean = mr_volume(3, 32)
    write_image(_mr_image(clean), tmp_path / "clean.nii.gz")
    noisy = _mr_image(add_rician(clean, 0.08, seed=0))
    classical = denoise(
        noisy, "gaussian", noise="rician", params={"kernel_sigma": 1.0}, reference=tmp_path / "clean.nii.gz"
    )
    assert isinstance(classical, DenoisingJobResult)
    _check_shape(classical)
    report = classical.report
    assert set(report) == {"method", "noise", "sigma", "sigma_estimated", "params", "metrics"}
    assert report["sigma_estimated"] and classical.sigma == report["sigma"] > 0
    assert report["metrics"]["reference"] == str(tmp_path / "clean.nii.gz")
    assert report["metrics"]["denoised"]["psnr"] > report["metrics"]["input"]["psnr"]
    assert _same_grid(classical.output, noisy)

    learned = denoise(noisy, loaded["denoising"], CPU)
    _check_shape(learned)
    assert set(learned.report) == {"method", "noise", "model", "device"} and learned.sigma is None
    assert learned.report["model"] == {"id": "tiny-denoising", "version": "0.1.0"}
    assert _same_grid(learned.output, noisy)


def test_jobs_refuse_what_does_not_fit(loaded: dict[str, LoadedModel], mr_volume) -> None:
    image = _mr_image(mr_volume(2, 16))
    with pytest.raises(UsageError, match="classical methods only"):
        denoise(image, loaded["denoising"], CPU, sigma=3.0)
    with pytest.raises(ModelError, match="is a denoising model, not a segmentation model"):
        segment(image, loaded["denoising"], CPU)
    with pytest.raises(ModelError, match="is a segmentation model, not a denoising model"):
        denoise(image, loaded["segmentation"], CPU)
    with pytest.raises(ModelError, match="is a denoising model, not a reconstruction model"):
        reconstruct_image(image, loaded["denoising"], CPU)


@pytest.mark.parametrize(
    ("options", "spec", "message"),
    [
        (["--mask", "equispaced", "--acceleration", "4.5"], dict(kind="equispaced", acceleration=4.5), "integer --acc"),
        (["--center-fraction", "0.3"], dict(center_fraction=0.3), "samples 30% of the columns"),
        (["--acceleration", "65"], dict(acceleration=65.0), "at most 64"),
        (["--acceleration", "nan"], dict(acceleration=float("nan")), "acceleration must be a finite number"),
        (["--center-fraction", "1.5"], dict(center_fraction=1.5), r"center_fraction must lie in \[0, 1\]"),
        (["--seed", "-1"], dict(seed=-1), r"seed must be an integer in \[0, 4294967295\]"),
        (["--seed", "4294967296"], dict(seed=2**32), r"seed must be an integer in \[0, 4294967295\]"),
        (["--mask", "spiral"], dict(kind="spiral"), "mask kind"),
    ],
)
def test_the_jobs_refuse_every_mask_the_command_refuses(
    capsys, tmp_path: Path, mr_volume, options: list[str], spec: dict, message: str
) -> None:
    """The mask is checked once, where its specification is made: the jobs API has no way around the check."""
    from cli_support import run_cli

    code, _, err = run_cli(capsys, "reconstruct", tmp_path / "in.nii.gz", tmp_path / "out.nii.gz", *options)
    assert code == 2, err
    with pytest.raises(UsageError, match=message) as refused:
        reconstruct_image(_mr_image(mr_volume(2, 128)), None, mask=MaskSpec(**spec))  # 128 columns: 65x fits
    if "--" in str(refused.value):  # a check of how options combine: the command's own message
        assert str(refused.value) in err
