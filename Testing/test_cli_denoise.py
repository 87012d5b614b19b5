"""condswin.cli.denoise: --method names checked up front (a typo lists the classical methods and the installed
denoising models, with a suggestion), --reference protected and checked before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_support import run_cli, write_mr

from condswin.bundles import card_template, save_bundle
from condswin.models import build_model


def test_a_misspelt_method_lists_the_classical_methods_and_installed_models(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = card_template("tiny-denoiser", "denoising", training_data="none: test model", training_command="pytest")
    save_bundle(build_model("unet", 1, 1, chans=4, num_pool_layers=2), card, tmp_path / "models" / "tiny-denoiser")
    monkeypatch.setenv("CONDSWIN_MODEL_PATH", str(tmp_path / "models"))
    source = write_mr(tmp_path / "noisy.nii.gz")
    code, _, err = run_cli(capsys, "denoise", source, tmp_path / "out.nii.gz", "--method", "nln")
    assert code == 2
    assert "did you mean 'nlm'?" in err and "mean, gaussian, median" in err and "clahe, tiny-denoiser" in err
    code, _, err = run_cli(capsys, "denoise", source, tmp_path / "out.nii.gz", "--method", "tiny-denoisr")
    assert code == 2 and "did you mean 'tiny-denoiser'?" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "noisy.nii.gz"]


def test_the_reference_is_protected_and_checked_before_any_work(tmp_path: Path, capsys) -> None:
    source = write_mr(tmp_path / "noisy.nii.gz")
    reference = write_mr(tmp_path / "clean.nii.gz", noisy=False)
    before = reference.read_bytes()
    for extra in (["--report", reference], []):
        out = reference if not extra else tmp_path / "out.nii.gz"
        code, _, err = run_cli(
            capsys, "denoise", source, out, "--method", "mean", "--reference", reference, "--overwrite", *extra
        )
        assert code == 2 and f"{reference}: an output cannot be an input" in err
    assert reference.read_bytes() == before
    code, _, err = run_cli(
        capsys, "denoise", source, tmp_path / "o.nii.gz", "--method", "mean", "--reference", tmp_path / "nope.nii.gz"
    )
    assert code == 3 and "nope.nii.gz: no such file or folder (--reference)" in err
    code, _, err = run_cli(capsys, "denoise", tmp_path, tmp_path / "outs", "--method", "mean", "--reference", reference)
    assert code == 2 and "must be a folder" in err
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "outs").exists()


def test_an_image_without_air_background_is_a_bad_input_not_a_crash(tmp_path: Path) -> None:
    # Rician σ is estimated from the air; an image filled by the object has none: exit 3 naming the file.
    import SimpleITK as sitk

    from condswin.cli.app import main

    filled = sitk.GetImageFromArray((100 + 5 * np.random.default_rng(0).standard_normal((3, 32, 32))).astype("f4"))
    source = tmp_path / "filled.nii.gz"
    sitk.WriteImage(filled, str(source))
    code = main(["denoise", str(source), str(tmp_path / "out.nii.gz"), "--method", "gaussian", "--progress", "none"])
    assert code == 3
    assert not (tmp_path / "out.nii.gz").exists()
