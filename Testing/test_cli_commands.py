"""The commands run in-process through ``condswin.cli.main()`` (fast): reconstruct, denoise, evaluate, models,
output rules and exit codes. End-to-end runs in separate processes are in ``test_cli_subprocess.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from synthetic_images import mr_volume as _mr_volume

from condswin.cli import main
from condswin.ct.phantom import make_phantom
from condswin.io.images import write_image
from condswin.metrics import reconstruction_metrics
from condswin.mri.fastmri import write
from condswin.mri.fft import ifft2c
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace
from condswin.mri.noise import add_rician


def _image(array: np.ndarray, spacing=(0.9, 0.9, 4.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, -20.0, 5.5))
    return image


@pytest.fixture(scope="module")
def bundles(tiny_bundles: dict[str, Path]) -> dict[str, Path]:
    """The shared tiny bundles (conftest): ids tiny-<task>, side by side in one folder."""
    return tiny_bundles


def _run(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_reconstruct_fastmri_file_with_target_writes_volume_and_metrics(tmp_path: Path, bundles: dict, capsys) -> None:
    volume = _mr_volume()
    kspace = simulate_singlecoil_kspace(volume, seed=3, kspace_shape=(40, 36))
    target = np.abs(center_crop(ifft2c(kspace), (32, 32))).astype(np.float32)
    write(tmp_path / "file1000.h5", kspace, target=target, spacing=(3.0, 0.5, 0.7))
    code, out, _ = _run(
        capsys,
        "reconstruct",
        tmp_path / "file1000.h5",
        tmp_path / "rec.nii.gz",
        "--model",
        bundles["reconstruction"],
        "--acceleration",
        "4",
        "--progress",
        "none",
    )
    assert code == 0
    image = sitk.ReadImage(str(tmp_path / "rec.nii.gz"))
    assert image.GetSize() == (32, 32, 3)
    np.testing.assert_allclose(image.GetSpacing(), (0.7, 0.5, 3.0), rtol=1e-6)  # header spacing, x = columns
    report = json.loads((tmp_path / "rec.json").read_text())
    assert report["model"]["id"] == "tiny-reconstruction" and report["mask_from_file"] is False
    assert report["metrics"]["model"] == pytest.approx(
        reconstruction_metrics(target, sitk.GetArrayFromImage(image)), rel=1e-5
    )
    assert "PSNR" in out and "zero-filled" in out


def test_reconstruct_mr_volume_zero_filled_keeps_geometry(tmp_path: Path, capsys) -> None:
    source = _image(_mr_volume())
    source.SetDirection((0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    write_image(source, tmp_path / "t1.nrrd")
    code, _, _ = _run(
        capsys,
        "reconstruct",
        tmp_path / "t1.nrrd",
        tmp_path / "zf.mha",
        "--model",
        "zero-filled",
        "--acceleration",
        "8",
        "--mask",
        "equispaced_fraction",
    )
    assert code == 0
    out = sitk.ReadImage(str(tmp_path / "zf.mha"))
    assert (out.GetSize(), out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        source.GetSize(),
        source.GetSpacing(),
        source.GetOrigin(),
        source.GetDirection(),
    )
    report = json.loads((tmp_path / "zf.json").read_text())
    assert report["model"] == "zero-filled" and report["acceleration"] > 4
    assert report["metrics"]["zero_filled"]["nmse"] > 0.0


def test_classical_denoise_with_reference_improves_and_reports(tmp_path: Path, capsys) -> None:
    clean = _mr_volume()
    noisy = add_rician(clean, 0.08, seed=0)
    write_image(_image(clean), tmp_path / "clean.nii.gz")
    write_image(_image(noisy), tmp_path / "noisy.nii.gz")
    code, out, _ = _run(
        capsys,
        "denoise",
        tmp_path / "noisy.nii.gz",
        tmp_path / "den.nii.gz",
        "--method",
        "tv",
        "--param",
        "weight_factor=0.8",
        "--noise",
        "rician",
        "--reference",
        tmp_path / "clean.nii.gz",
    )
    assert code == 0
    report = json.loads((tmp_path / "den.json").read_text())
    assert report["sigma_estimated"] is True and report["sigma"] > 0
    metrics = report["metrics"]
    assert metrics["denoised"]["psnr"] > metrics["input"]["psnr"] + 3.0
    denoised = sitk.ReadImage(str(tmp_path / "den.nii.gz"))
    assert denoised.GetSpacing() == pytest.approx((0.9, 0.9, 4.0)) and denoised.GetOrigin() == pytest.approx(
        (10.0, -20.0, 5.5)
    )
    assert "PSNR" in out


def test_learned_denoise_and_parameter_checks(tmp_path: Path, bundles: dict, capsys) -> None:
    write_image(_image(add_rician(_mr_volume(), 0.05, seed=1)), tmp_path / "noisy.nii.gz")
    code, _, _ = _run(
        capsys, "denoise", tmp_path / "noisy.nii.gz", tmp_path / "out.nii.gz", "--method", bundles["denoising"]
    )
    assert code == 0
    assert json.loads((tmp_path / "out.json").read_text())["model"]["id"] == "tiny-denoising"
    code, _, err = _run(
        capsys, "denoise", tmp_path / "noisy.nii.gz", tmp_path / "x.nii.gz", "--method", "nlm", "--param", "strength=2"
    )
    assert code == 2 and "strength" in err
    code, _, err = _run(
        capsys, "denoise", tmp_path / "noisy.nii.gz", tmp_path / "x.nii.gz", "--method", bundles["segmentation"]
    )
    assert code == 4 and "not a denoising model" in err
    assert not (tmp_path / "x.nii.gz").exists()


def test_existing_output_needs_overwrite_and_input_is_never_an_output(tmp_path: Path, bundles: dict, capsys) -> None:
    ct, _ = make_phantom(0, shape=(16, 16, 8), spacing=(2.0, 2.0, 4.0), num_tumours=0)
    write_image(ct, tmp_path / "ct.nii.gz")
    (tmp_path / "seg.nii.gz").write_bytes(b"old")
    code, _, err = _run(
        capsys, "segment", tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz", "--model", bundles["segmentation"]
    )
    assert code == 5 and "--overwrite" in err
    assert (tmp_path / "seg.nii.gz").read_bytes() == b"old"
    code, _, _ = _run(
        capsys,
        "segment",
        tmp_path / "ct.nii.gz",
        tmp_path / "seg.nii.gz",
        "--model",
        bundles["segmentation"],
        "--overwrite",
    )
    assert code == 0 and sitk.ReadImage(str(tmp_path / "seg.nii.gz")).GetSize() == ct.GetSize()
    before = (tmp_path / "ct.nii.gz").read_bytes()
    code, _, err = _run(
        capsys,
        "segment",
        tmp_path / "ct.nii.gz",
        tmp_path / "ct.nii.gz",
        "--model",
        bundles["segmentation"],
        "--overwrite",
    )
    assert code == 2 and "cannot be an input" in err
    assert (tmp_path / "ct.nii.gz").read_bytes() == before


def test_segment_score_offsets_override_the_card_and_are_checked_first(tmp_path: Path, bundles: dict, capsys) -> None:
    ct, _ = make_phantom(0, shape=(16, 16, 8), spacing=(2.0, 2.0, 4.0), num_tumours=0)
    write_image(ct, tmp_path / "ct.nii.gz")
    output = tmp_path / "seg.nii.gz"
    common = ("segment", tmp_path / "ct.nii.gz", output, "--model", bundles["segmentation"], "--no-postprocess")

    def tumour_voxels(offsets: str) -> int:
        code, _, _ = _run(capsys, *common, "--score-offsets", offsets, "--overwrite", "--progress", "none")
        assert code == 0
        assert json.loads((tmp_path / "seg.json").read_text())["score_offsets"] == [
            float(v) for v in offsets.split(",")
        ]
        return int((sitk.GetArrayFromImage(sitk.ReadImage(str(output))) == 2).sum())

    assert tumour_voxels("0,0,20") > 0 and tumour_voxels("0,0,-20") == 0
    code, _, err = _run(capsys, *common, "--score-offsets", "0,2", "--overwrite")
    assert code == 2 and "--score-offsets" in err and "3 output channel" in err
    for bad in ("0,0,nan", "0,0,x", "0,0,21"):  # refused while the command line is parsed (argparse: exit 2)
        with pytest.raises(SystemExit) as exit_info:
            _run(capsys, *common, "--score-offsets", bad, "--overwrite")
        assert exit_info.value.code == 2 and "--score-offsets: expected comma-separated finite numbers" in (
            capsys.readouterr().err
        )


def test_segment_without_any_model_says_so(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDSWIN_MODEL_PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CONDSWIN_EMBEDDED_MODELS", str(tmp_path / "empty"))  # hide the embedded models too
    (tmp_path / "empty").mkdir()
    ct, _ = make_phantom(0, shape=(16, 16, 8), spacing=(2.0, 2.0, 4.0), num_tumours=0)
    write_image(ct, tmp_path / "ct.nii.gz")
    code, _, err = _run(capsys, "segment", tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz")
    assert code == 4 and "no segmentation model is available" in err and "--model PATH" in err


def test_embedded_models_variable_naming_a_file_or_no_folder_is_a_model_error_naming_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONDSWIN_MODEL_PATH", raising=False)
    ct, _ = make_phantom(0, shape=(16, 16, 8), spacing=(2.0, 2.0, 4.0), num_tumours=0)
    write_image(ct, tmp_path / "ct.nii.gz")
    a_file = tmp_path / "models.json"
    a_file.write_text("{}")
    for wrong, problem in ((tmp_path / "no-such-folder", "no such folder"), (a_file, "not a folder")):
        monkeypatch.setenv("CONDSWIN_EMBEDDED_MODELS", str(wrong))
        for argv in (("models",), ("segment", tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz")):
            code, out, err = _run(capsys, *argv)
            assert code == 4, (argv, out, err)
            assert f"{wrong}: {problem} (CONDSWIN_EMBEDDED_MODELS" in err and "Resources/Models" not in err
    assert not (tmp_path / "seg.nii.gz").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CONDSWIN_EMBEDDED_MODELS", str(empty))  # an empty folder hides the embedded models
    code, _, err = _run(capsys, "segment", tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz")
    assert code == 4 and f"no trained segmentation model is embedded in {empty}" in err
    code, out, _ = _run(capsys, "models")
    assert code == 0 and f"no trained models are embedded in {empty}" in out


def test_bad_inputs_and_usage_errors(tmp_path: Path, bundles: dict, capsys) -> None:
    code, _, err = _run(
        capsys, "segment", tmp_path / "missing.nii.gz", tmp_path / "o.nii.gz", "--model", bundles["segmentation"]
    )
    assert code == 3 and "missing.nii.gz" in err
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    code, _, err = _run(
        capsys, "segment", tmp_path / "empty.nii.gz", tmp_path / "o.nii.gz", "--model", bundles["segmentation"]
    )
    assert code == 3 and "empty" in err
    code, _, err = _run(
        capsys, "segment", tmp_path / "empty.nii.gz", tmp_path / "o.png", "--model", bundles["segmentation"]
    )
    assert code == 2 and "unsupported output format" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["reconstruct", "a.h5", "b.nii.gz", "--batch-size", "0"])
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_dicom_series_folder_input(tmp_path: Path, bundles: dict, capsys) -> None:
    ct, _ = make_phantom(2, shape=(20, 18, 8), spacing=(1.2, 1.2, 3.0), num_tumours=0, geometry="flipped")
    write_image(ct, tmp_path / "series")  # a folder of DICOM slices
    code, _, _ = _run(capsys, "segment", tmp_path / "series", tmp_path / "seg.nrrd", "--model", bundles["segmentation"])
    assert code == 0
    read_back = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "series")))
    labels = sitk.ReadImage(str(tmp_path / "seg.nrrd"))
    assert labels.GetSize() == read_back.GetSize()
    np.testing.assert_allclose(labels.GetOrigin(), read_back.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(labels.GetDirection(), read_back.GetDirection(), atol=1e-9)


def test_evaluate_segmentation_folders_and_reconstruction(tmp_path: Path, capsys) -> None:
    _, labels = make_phantom(4, shape=(48, 48, 10), spacing=(8.0, 8.0, 5.0), num_tumours=2)
    array = sitk.GetArrayFromImage(labels)
    damaged = array.copy()
    damaged[damaged == 2] = 1  # every tumour missed
    pred = sitk.GetImageFromArray(damaged)
    pred.CopyInformation(labels)
    for folder, image in (("ref", labels), ("pred", pred)):
        (tmp_path / folder).mkdir()
        write_image(image, tmp_path / folder / "segmentation-4.nii.gz")
    write_image(pred, tmp_path / "pred" / "segmentation-9.nii.gz")  # no reference: reported, not fatal
    code, _, _ = _run(
        capsys,
        "evaluate",
        tmp_path / "pred",
        tmp_path / "ref",
        "--output",
        tmp_path / "metrics.json",
        "--progress",
        "json",
    )
    assert code == 1
    results = json.loads((tmp_path / "metrics.json").read_text())
    assert results["failed"] == 1
    metrics = results["results"][0]["metrics"]
    assert metrics["tumour"]["dice"] == 0.0 and metrics["tumour"]["recall"] == 0.0
    assert metrics["liver"]["recall"] == 1.0 and metrics["liver"]["precision"] < 1.0

    clean = _mr_volume()
    write_image(_image(clean), tmp_path / "clean.nii.gz")
    write_image(_image(clean + 5.0), tmp_path / "shifted.nii.gz")
    code, out, _ = _run(capsys, "evaluate", tmp_path / "shifted.nii.gz", tmp_path / "clean.nii.gz")
    assert code == 0 and "psnr" in out and "mae 5.0000" in out


def test_models_lists_bundles_from_the_search_path(tmp_path: Path, bundles: dict, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CONDSWIN_MODEL_PATH", str(bundles["segmentation"].parent))
    code, out, _ = _run(capsys, "models", "--json")
    assert code == 0
    listing = json.loads(out)
    assert {m["id"] for m in listing["models"]} >= {"tiny-segmentation", "tiny-reconstruction", "tiny-denoising"}
    assert "bm3d" in listing["classical_denoising"]
    code, out, _ = _run(capsys, "models", "tiny-segmentation", "--verify")
    assert code == 0 and "SCT 10200004" in out and "sha256 verified" in out
    monkeypatch.setenv("CONDSWIN_MODEL_PATH", str(tmp_path))
    monkeypatch.setenv("CONDSWIN_EMBEDDED_MODELS", str(tmp_path))  # hide the embedded models too
    code, out, _ = _run(capsys, "models")
    assert code == 0 and "No model bundles found" in out


def test_real_samples_through_the_command_line(shared_data: Path, tmp_path: Path, bundles: dict, capsys) -> None:
    code, _, _ = _run(
        capsys,
        "reconstruct",
        shared_data / "kspace" / "phantom_twix_gre_vcoil.h5",
        tmp_path / "rec.nrrd",
        "--model",
        "zero-filled",
    )
    assert code == 0
    report = json.loads((tmp_path / "rec.json").read_text())
    assert report["shape"] == [1, 320, 320] and report["metrics"]["zero_filled"]["ssim"] > 0.3
    ct = shared_data / "ct" / "volume-2002.nii.gz"
    code, _, _ = _run(capsys, "segment", ct, tmp_path / "seg.nii.gz", "--model", bundles["segmentation"])
    assert code == 0
    source, labels = sitk.ReadImage(str(ct)), sitk.ReadImage(str(tmp_path / "seg.nii.gz"))
    assert (labels.GetSize(), labels.GetSpacing(), labels.GetOrigin(), labels.GetDirection()) == (
        source.GetSize(),
        source.GetSpacing(),
        source.GetOrigin(),
        source.GetDirection(),
    )
