"""condswin.cli.reconstruct: masks that would sample no k-space column end in a clear error and no output, never
an all-zero image reported with a made-up acceleration."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from cli_support import json_lines, run_cli, write_mr
from synthetic_images import mr_volume

from condswin.mri.kspace import simulate_singlecoil_kspace


def test_an_acceleration_beyond_the_columns_of_a_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    source = write_mr(tmp_path / "t1.nii.gz", noisy=False)  # 32 k-space columns
    code, _, err = run_cli(
        capsys, "reconstruct", source, tmp_path / "out" / "rec.nii.gz", "--model", "zero-filled", "--acceleration", "64"
    )
    assert code == 2 and "32 k-space columns" in err
    assert err.count(str(source)) == 1  # the file is named once
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_file_mask_that_samples_no_column_is_a_bad_input(tmp_path: Path, capsys) -> None:
    path = tmp_path / "file1003.h5"
    kspace = simulate_singlecoil_kspace(mr_volume(), seed=0).astype(np.complex64)
    with h5py.File(path, "w") as f:
        f["kspace"] = kspace * 0
        f["mask"] = np.zeros(kspace.shape[-1], dtype=bool)
    code, _, err = run_cli(capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "zero-filled")
    assert code == 3 and "samples none of the" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file1003.h5"]


def _fastmri_file(
    path: Path, *, recon: tuple[int, int], encoded: tuple[int, int] = (48, 64), target_shape=None
) -> Path:
    """A 2-slice single-coil file with 48 x 64 k-space whose header states the given matrices (0.5 x 0.7 mm
    pixels over the encoded matrix, 3 mm slices), and a target of ``target_shape`` when given."""
    from condswin.mri.fastmri import make_ismrmrd_header, write

    kspace = simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=0, kspace_shape=(48, 64))
    header = make_ismrmrd_header(
        (*encoded, 1), (encoded[0] * 0.5, encoded[1] * 0.7, 3.0), (*recon, 1), (32 * 0.5, 32 * 0.7, 3.0)
    )
    target = None if target_shape is None else np.ones((2, *target_shape), np.float32)
    return write(path, kspace, target, header_xml=header)


def test_a_header_matrix_larger_than_the_kspace_falls_back_to_the_encoded_grid_with_a_warning(
    tmp_path: Path, capsys
) -> None:
    import SimpleITK as sitk

    path = _fastmri_file(tmp_path / "file1004.h5", recon=(100000, 100000))
    out = tmp_path / "rec.nii.gz"
    code, stdout, err = run_cli(capsys, "reconstruct", path, out, "--model", "zero-filled", "--progress", "json")
    assert code == 0, err
    warnings = [line["message"] for line in json_lines(stdout) if line["stage"] == "warning"]
    assert any("100000×100000" in w and "48×64" in w and str(path) in w for w in warnings), warnings
    image = sitk.ReadImage(str(out))
    assert image.GetSize() == (64, 48, 2)  # the whole k-space image, not a made-up crop
    np.testing.assert_allclose(image.GetSpacing(), (0.7, 0.5, 3.0), rtol=1e-6)  # encoded FOV / k-space matrix


def test_a_header_that_matches_the_kspace_nowhere_is_a_bad_input(tmp_path: Path, capsys) -> None:
    path = _fastmri_file(tmp_path / "file1005.h5", recon=(100000, 100000), encoded=(640, 368))
    code, _, err = run_cli(capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "zero-filled")
    assert code == 3 and "describes another k-space" in err and "48×64" in err and str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file1005.h5"]


def test_a_target_of_another_shape_than_the_header_is_named_in_a_warning(tmp_path: Path, capsys) -> None:
    path = _fastmri_file(tmp_path / "file1006.h5", recon=(32, 32), target_shape=(24, 40))
    code, stdout, err = run_cli(
        capsys, "reconstruct", path, tmp_path / "rec.nii.gz", "--model", "zero-filled", "--progress", "json"
    )
    assert code == 0, err
    warnings = [line["message"] for line in json_lines(stdout) if line["stage"] == "warning"]
    assert any("reconstruction_esc is 24×40" in w and "32×32" in w for w in warnings), warnings
