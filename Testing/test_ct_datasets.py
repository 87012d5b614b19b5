"""condswin.ct.datasets: LiTS and Decathlon discovery, case checks with errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.ct.datasets import CTCase, check_case, find_cases, load_case
from condswin.errors import InputError
from condswin.io.images import ImageFileError, ImageNotFoundError, read_image


def _image(array: np.ndarray, spacing=(0.8, 0.8, 2.5), origin=(-100.0, -90.0, -300.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _write(path: Path, image: sitk.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _case(folder: Path, ct_name: str, label_name: str | None, labels: np.ndarray | None = None) -> None:
    ct = _image(np.full((4, 5, 6), -100, np.int16))
    _write(folder / ct_name, ct)
    if label_name is not None:
        values = np.zeros((4, 5, 6), np.uint8) if labels is None else labels
        _write(folder / label_name, _image(values))


def test_lits_discovery_across_batches_and_extensions(tmp_path: Path) -> None:
    _case(tmp_path / "Training Batch 1", "volume-10.nii", "segmentation-10.nii")
    _case(tmp_path / "Training Batch 1", "volume-2.nii.gz", "segmentation-2.nii.gz")
    _case(tmp_path / "Training Batch 2", "volume-1.nii.gz", None)  # a test-set volume
    (tmp_path / "notes.txt").write_text("not a case")
    cases = find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["1", "2", "10"]  # numeric order, not "1, 10, 2"
    assert cases[0].label_path is None
    assert cases[2].volume_path.name == "volume-10.nii"
    assert cases[2].label_path == tmp_path / "Training Batch 1" / "segmentation-10.nii"
    assert isinstance(cases[1], tuple) and len(cases[1]) == 3


def test_decathlon_discovery_skips_macos_files(tmp_path: Path) -> None:
    _case(tmp_path, "imagesTr/liver_10.nii.gz", "labelsTr/liver_10.nii.gz")
    _case(tmp_path, "imagesTr/liver_3.nii.gz", "labelsTr/liver_3.nii.gz")
    _case(tmp_path, "imagesTs/liver_200.nii.gz", None)
    (tmp_path / "imagesTr" / "._liver_3.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # resource fork
    (tmp_path / "dataset.json").write_text("{}")
    cases = find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["liver_3", "liver_10", "liver_200"]
    assert cases[0].label_path == tmp_path / "labelsTr" / "liver_3.nii.gz"
    assert cases[2].label_path is None


def test_discovery_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="missing"):
        find_cases(tmp_path / "missing")
    with pytest.raises(ImageFileError, match="no LiTS .* or Decathlon"):
        find_cases(tmp_path)
    _case(tmp_path / "a", "volume-1.nii.gz", None)
    _case(tmp_path / "b", "volume-1.nii", None)
    with pytest.raises(ImageFileError, match="case 1 also exists"):
        find_cases(tmp_path)
    orphan_root = tmp_path / "orphan"
    _case(orphan_root, "volume-1.nii.gz", None)
    _write(orphan_root / "segmentation-7.nii.gz", _image(np.zeros((4, 5, 6), np.uint8)))
    with pytest.raises(ImageFileError, match=r"segmentation-7\.nii\.gz.*without a matching volume"):
        find_cases(orphan_root)


def test_check_case_accepts_good_case_and_reports_labels(tmp_path: Path) -> None:
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1:3, 1:4, 1:5] = 1
    labels[2, 2, 2] = 2
    _case(tmp_path, "volume-1.nii.gz", "segmentation-1.nii.gz", labels)
    info = check_case(tmp_path / "volume-1.nii.gz", tmp_path / "segmentation-1.nii.gz")
    assert info.size == (6, 5, 4)
    assert info.spacing == pytest.approx((0.8, 0.8, 2.5))
    assert info.labels_present == (0, 1, 2)
    assert check_case(tmp_path / "volume-1.nii.gz").labels_present is None


def test_float_labels_with_integer_values_are_accepted(tmp_path: Path) -> None:
    _case(tmp_path, "volume-1.nii.gz", "segmentation-1.nii.gz", np.ones((4, 5, 6), np.float32))
    ct, labels = load_case(find_cases(tmp_path)[0])
    assert labels.GetPixelID() == sitk.sitkUInt8
    assert labels.GetOrigin() == ct.GetOrigin() and labels.GetSpacing() == ct.GetSpacing()


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (_image(np.zeros((4, 5, 7), np.uint8)), "not on the grid.*size"),
        (_image(np.zeros((4, 5, 6), np.uint8), spacing=(0.8, 0.8, 3.0)), "not on the grid.*spacing"),
        (_image(np.zeros((4, 5, 6), np.uint8), origin=(-100.0, -90.0, -290.0)), "not on the grid.*origin"),
        (_image(np.full((4, 5, 6), 3, np.uint8)), r"unexpected label values \[3\]"),
        (_image(np.full((4, 5, 6), 0.5, np.float32)), "non-integer"),
        (sitk.JoinSeries([_image(np.zeros((4, 5, 6), np.uint8))] * 2), "3-D label map but it is 4-D"),
    ],
)
def test_bad_label_files_are_named(tmp_path: Path, label: sitk.Image, message: str) -> None:
    _case(tmp_path, "volume-1.nii.gz", None)
    label_path = _write(tmp_path / "segmentation-1.nii.gz", label)
    with pytest.raises(ImageFileError, match=rf"segmentation-1\.nii\.gz: .*{message}"):
        check_case(tmp_path / "volume-1.nii.gz", label_path)


def test_bad_volumes_are_named(tmp_path: Path) -> None:
    nan_volume = np.zeros((4, 5, 6), np.float32)
    nan_volume[0, 0, 0] = np.nan
    _write(tmp_path / "volume-1.nrrd", _image(nan_volume))
    with pytest.raises(ImageFileError, match=r"volume-1\.nrrd: contains 1 NaN"):
        check_case(tmp_path / "volume-1.nrrd")
    _write(tmp_path / "volume-2.nii.gz", sitk.JoinSeries([_image(np.zeros((4, 5, 6), np.int16))] * 3))
    with pytest.raises(ImageFileError, match=r"volume-2\.nii\.gz: expected a 3-D image but it is 4-D"):
        check_case(tmp_path / "volume-2.nii.gz")
    (tmp_path / "volume-3.nii.gz").write_bytes(b"")
    with pytest.raises(ImageFileError, match=r"volume-3\.nii\.gz: the file is empty"):
        check_case(tmp_path / "volume-3.nii.gz")


def test_real_lits_samples(shared_data: Path) -> None:
    # The folder may gain cases; the ones whose labels this test knows must be found and read correctly.
    known_labels = {"1001": (0, 1, 2), "2002": (0, 1), "3001": (0, 1)}  # only 1001 has tumour labels
    cases = [c for c in find_cases(shared_data / "ct") if c.case_id in known_labels]
    assert {c.case_id for c in cases} >= {"2002", "3001"}
    for case in cases:
        assert case == CTCase(
            shared_data / "ct" / f"volume-{case.case_id}.nii.gz",
            shared_data / "ct" / f"segmentation-{case.case_id}.nii.gz",
            case.case_id,
        )
        info = check_case(case.volume_path, case.label_path)
        reference = sitk.ReadImage(str(case.volume_path))
        assert info.size == reference.GetSize()
        assert info.direction == reference.GetDirection()
        assert info.labels_present == known_labels[case.case_id]
        ct, labels = load_case(case)
        assert ct.GetPixelID() == sitk.sitkInt16
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(labels), sitk.GetArrayFromImage(read_image(case.label_path))
        )


def test_dataset_problems_are_input_errors_with_exit_code_3(tmp_path: Path) -> None:
    # A user's data set that is wrong must be blamed on the input (exit 3), never reported as a bug (exit 70).
    from condswin.cli.errors import BAD_INPUT, exit_code_for

    with pytest.raises(InputError) as no_pairs:
        find_cases(tmp_path)
    _case(tmp_path, "volume-1.nii.gz", "segmentation-1.nii.gz", np.full((4, 5, 6), 7, np.uint8))
    with pytest.raises(InputError, match=r"unexpected label values \[7\]") as bad_labels:
        check_case(tmp_path / "volume-1.nii.gz", tmp_path / "segmentation-1.nii.gz")
    assert exit_code_for(no_pairs.value) == exit_code_for(bad_labels.value) == BAD_INPUT
