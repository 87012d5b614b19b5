"""condswin.cli.common: the shared opening of segment/reconstruct/denoise and the reading of their inputs:
a label map given where an image is expected is a warning event, as is any CondswinWarning of a job (the
fastMRI "assuming 1 mm" notice), each naming the input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from cli_support import json_lines, run_cli, write_labels, write_mr
from synthetic_images import mr_volume

from condswin.mri.kspace import simulate_singlecoil_kspace


def _warnings(stdout: str) -> list[dict]:
    return [line for line in json_lines(stdout) if line["stage"] == "warning"]


def test_a_label_map_given_as_an_image_is_a_warning_event(tmp_path: Path, capsys) -> None:
    labels = write_labels(tmp_path / "seg.nii.gz", (0, 1, 2))
    for command in (
        ["denoise", "--method", "median", "--noise", "gaussian"],
        ["reconstruct", "--model", "zero-filled"],
    ):
        code, out, err = run_cli(
            capsys, command[0], labels, tmp_path / f"{command[0]}.nii.gz", *command[1:], "--progress", "json"
        )
        assert code == 0, err
        (warning,) = _warnings(out)
        assert warning["file"] == str(labels) and "looks like a label map" in warning["message"]
    code, out, _ = run_cli(
        capsys,
        "denoise",
        write_mr(tmp_path / "t1.nii.gz"),
        tmp_path / "d.nii.gz",
        "--method",
        "median",
        "--progress",
        "json",
    )
    assert code == 0 and _warnings(out) == []  # an MR image is not mistaken for one


def test_a_library_warning_during_a_job_is_an_event_naming_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "file1002.h5"
    with h5py.File(path, "w") as f:  # a fastMRI-like file without an ismrmrd_header
        f["kspace"] = simulate_singlecoil_kspace(mr_volume(), seed=0).astype(np.complex64)
    code, out, err = run_cli(
        capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "zero-filled", "--progress", "json"
    )
    assert code == 0, err
    (warning,) = _warnings(out)
    assert warning["file"] == str(path) and "assuming 1 mm" in warning["message"]
    assert "CondswinWarning" not in err  # not printed a second time as a Python warning
