"""condswin.cli.reconstruct: masks that would sample no k-space column end in a clear error and no output, never
an all-zero image reported with a made-up acceleration."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from cli_support import run_cli, write_mr
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
