"""condswin.cli.evaluate: label maps vs intensity images, classes absent from both maps, means with spread
from condswin.metrics.aggregate, and --output that can never replace an input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from cli_support import run_cli, write_labels
from synthetic_images import mr_volume

from condswin.io.images import write_image


def _int16_mr(path: Path, shift: int = 0) -> Path:
    image = sitk.GetImageFromArray((mr_volume() + shift).astype(np.int16))  # integer, hundreds of values
    write_image(image, path)
    return path


def test_integer_intensity_images_are_not_scored_as_segmentations(tmp_path: Path, capsys) -> None:
    pred, ref = _int16_mr(tmp_path / "pred.nii.gz", shift=3), _int16_mr(tmp_path / "ref.nii.gz")
    code, out, err = run_cli(capsys, "evaluate", pred, ref)
    assert code == 0, err
    assert "psnr" in out and "mae 3.0000" in out and "dice" not in out
    code, _, err = run_cli(capsys, "evaluate", pred, ref, "--kind", "segmentation")
    assert code == 3 and "not a label map" in err and "dice" not in err
    labels = write_labels(tmp_path / "labels.nii.gz", (0, 1, 2))
    code, _, err = run_cli(capsys, "evaluate", labels, ref)
    assert code == 3 and "is a label map" in err


def test_a_class_in_neither_map_is_absent_and_left_out_of_the_means(tmp_path: Path, capsys) -> None:
    for folder in ("pred", "ref"):
        (tmp_path / folder).mkdir()
    write_labels(tmp_path / "pred" / "a.nii.gz", (0, 1, 2))
    write_labels(tmp_path / "ref" / "a.nii.gz", (0, 1, 1))  # tumour predicted, none there: Dice 0
    write_labels(tmp_path / "pred" / "b.nii.gz", (0, 1))
    write_labels(tmp_path / "ref" / "b.nii.gz", (0, 1))  # no tumour anywhere: absent, not Dice 1
    code, out, err = run_cli(
        capsys, "evaluate", tmp_path / "pred", tmp_path / "ref", "--no-hd95", "--output", tmp_path / "m.json"
    )
    assert code == 0, err
    assert "tumour     absent from both prediction and reference" in out
    report = json.loads((tmp_path / "m.json").read_text())
    case_b = report["results"][1]["metrics"]["tumour"]
    assert case_b["absent"] is True and case_b["dice"] is None
    tumour = report["means"]["segmentation"]["tumour"]["dice"]
    assert tumour == {"mean": 0.0, "std": 0.0, "cases": 1, "missing": 1}
    liver = report["means"]["segmentation"]["liver"]["dice"]
    assert liver["cases"] == 2 and 0 < liver["mean"] < 1 and liver["std"] > 0


def test_output_can_never_replace_an_input(tmp_path: Path, capsys) -> None:
    pred, ref = _int16_mr(tmp_path / "pred.nii.gz", shift=3), _int16_mr(tmp_path / "ref.nii.gz")
    before = ref.read_bytes()
    for output in (ref, pred):
        code, _, err = run_cli(capsys, "evaluate", pred, ref, "--output", output, "--overwrite")
        assert code == 2 and "an output cannot be an input" in err
    assert ref.read_bytes() == before
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    _int16_mr(tmp_path / "p" / "x.nii.gz")
    _int16_mr(tmp_path / "r" / "x.nii.gz")
    code, _, err = run_cli(
        capsys, "evaluate", tmp_path / "p", tmp_path / "r", "--output", tmp_path / "r" / "x.nii.gz", "--overwrite"
    )
    assert code == 2 and "an output cannot be an input" in err
    code, _, err = run_cli(capsys, "evaluate", pred, ref, "--output", tmp_path / "p")
    assert code == 5 and "is a folder" in err
