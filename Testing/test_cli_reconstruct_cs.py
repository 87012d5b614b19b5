"""``condswin reconstruct --model cs-tv | cs-wavelet``: compressed sensing from the command line — its parameters
checked before any work, single-coil files only, per-slice progress, the report, and cancel by SIGTERM."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk
from cli_support import json_lines, leftovers, run_cli, sigterm_once_inferring
from synthetic_images import mr_volume

from condswin.mri.compressed_sensing import get_method
from condswin.mri.fastmri import make_ismrmrd_header, write
from condswin.mri.kspace import simulate_singlecoil_kspace

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _singlecoil_file(path: Path, slices: int = 3) -> Path:
    """A fully sampled single-coil file with 40 x 36 k-space, a 32 x 32 target and a header (0.5 x 0.7 mm)."""
    magnitude = mr_volume(slices, 32, 1.0)
    kspace = simulate_singlecoil_kspace(magnitude, seed=0, kspace_shape=(40, 36))
    header = make_ismrmrd_header((40, 36, 1), (20.0, 25.2, 3.0), (32, 32, 1), (16.0, 22.4, 3.0))
    return write(path, kspace, magnitude, header_xml=header)  # the target: the image the k-space was made from


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("lam=-1", "lam must be a positive finite number up to 1, got -1"),
        ("lam=nan", "lam must be a positive finite number up to 1, got 'nan'"),
        ("lam=NaN", "lam must be a positive finite number up to 1, got nan"),
        ("lam=abc", "lam must be a positive finite number up to 1, got 'abc'"),
        ("iterations=0", "iterations must be a positive integer up to 10000, got 0"),
        ("iterations=1000000000", "iterations must be a positive integer up to 10000, got 1000000000"),
        ("iterations=2.5", "iterations must be a positive integer"),
        ("rho=2", "unknown parameter(s) rho; accepted (with defaults): lam="),
        ("lam", "--param expects KEY=VALUE"),
    ],
)
@pytest.mark.parametrize("method", ["cs-tv", "cs-wavelet"])
def test_a_bad_parameter_is_a_usage_error_before_any_input_is_read(
    method: str, param: str, message: str, tmp_path: Path, capsys
) -> None:
    missing = tmp_path / "no_such_file.h5"  # reading it would be exit 3: the parameter is checked first
    code, stdout, err = run_cli(
        capsys, "reconstruct", missing, tmp_path / "out" / "rec.nii.gz", "--model", method, "--param", param,
        "--progress", "json",
    )  # fmt: skip
    error = json_lines(stdout)[-1]
    assert code == 2 and error["stage"] == "error" and error["code"] == 2, (stdout, err)
    assert message in error["message"] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model", ["zero-filled", "some-model-id"])
def test_parameters_for_a_method_that_takes_none_are_a_usage_error(model: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(
        capsys, "reconstruct", tmp_path / "x.h5", tmp_path / "rec.nii.gz", "--model", model, "--param", "lam=0.01"
    )
    assert code == 2 and "--param applies to compressed sensing" in err


def test_cs_reconstructs_a_fastmri_file_slice_by_slice_and_reports_its_parameters(tmp_path: Path, capsys) -> None:
    path = _singlecoil_file(tmp_path / "file1000.h5")
    results = {}
    for method in ("zero-filled", "cs-tv", "cs-wavelet"):
        out = tmp_path / f"{method}.nii.gz"
        extra = () if method == "zero-filled" else ("--param", "iterations=40")
        code, stdout, err = run_cli(capsys, "reconstruct", path, out, "--model", method, "--progress", "json", *extra)
        assert code == 0, err
        lines = json_lines(stdout)
        report = json.loads(out.with_suffix("").with_suffix(".json").read_text())
        results[method] = report["metrics"]["model"]
        image = sitk.ReadImage(str(out))
        assert image.GetSize() == (32, 32, 3)
        np.testing.assert_allclose(image.GetSpacing(), (0.7, 0.5, 3.0), rtol=1e-6)  # the header's, as zero-filled
        if method == "zero-filled":
            continue
        assert report["model"] == method
        assert report["params"] == {"lam": get_method(method).lam, "iterations": 40}  # defaults filled in
        assert report["device"] == "cpu"
        progress = [(line["done"], line["total"]) for line in lines if line["stage"] == "infer"]
        assert progress == [(1, 3), (2, 3), (3, 3)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".h5") == ["file1000.h5"]
    for method in ("cs-tv", "cs-wavelet"):
        assert results[method]["psnr"] > results["zero-filled"]["psnr"] + 1, results
        assert results[method]["ssim"] > results["zero-filled"]["ssim"], results


def test_a_multicoil_file_is_refused_naming_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "file2000.h5"
    coils = simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=0)[:, None].repeat(4, axis=1)
    write(path, coils, np.ones((2, 32, 32), np.float32))
    code, _, err = run_cli(capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "cs-tv")
    assert code == 3, err
    assert f"{path}: cs-tv reconstructs single-coil k-space, but this file holds 4 coils" in err
    assert err.count(str(path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file2000.h5"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_kspace_is_the_readers_error(bad: float, tmp_path: Path, capsys) -> None:
    path = tmp_path / "file3000.h5"
    kspace = simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=0).astype(np.complex64)
    kspace[1, 3, 4] = bad
    with h5py.File(path, "w") as f:
        f["kspace"] = kspace
    code, _, err = run_cli(capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "cs-wavelet")
    assert code == 3 and "kspace contains NaN or infinite values" in err and str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file3000.h5"]


def test_sigterm_cancels_compressed_sensing_between_iterations(tmp_path: Path) -> None:
    path = _singlecoil_file(tmp_path / "file4000.h5")
    out = tmp_path / "out" / "rec.nii.gz"
    command = [
        sys.executable, "-m", "condswin", "reconstruct", str(path), str(out), "--model", "cs-tv",
        "--param", "iterations=10000", "--progress", "json", "--threads", "1",
    ]  # fmt: skip
    env = {**{k: v for k, v in os.environ.items() if k != "CONDSWIN_MODEL_PATH"}, "PYTHONUNBUFFERED": "1"}
    returncode, stdout = sigterm_once_inferring(command, env, 120)
    assert returncode == 130
    assert json.loads(stdout.splitlines()[-1])["stage"] == "cancelled"
    assert not out.exists() and leftovers(tmp_path) == []
