"""condswin.ct.report: volumes checked against hand-computed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.ct.report import SMALL_LIVER_ML, liver_notices, liver_report, measures_against_reference, save_report
from condswin.io.images import OutputExistsError


def _labels() -> sitk.Image:
    array = np.zeros((20, 40, 50), np.uint8)
    array[2:18, 5:35, 5:45] = 1  # 16 * 30 * 40 = 19200 voxels of organ
    array[4:8, 10:15, 10:20] = 2  # tumour A: 4 * 5 * 10 = 200 voxels
    array[10:12, 20:23, 30:33] = 2  # tumour B: 2 * 3 * 3 = 18 voxels
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.8, 2.0))  # 0.8 mm^3 = 0.0008 mL per voxel
    image.SetDirection((0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))  # direction does not change volumes
    return image


def test_volumes_counts_and_burden_match_hand_computation() -> None:
    report = liver_report(_labels())
    voxel_ml = 0.5 * 0.8 * 2.0 / 1000.0
    assert report["voxel_volume_ml"] == pytest.approx(voxel_ml)
    assert report["liver_ml"] == pytest.approx(19200 * voxel_ml)  # 15.36 mL, tumours included
    assert report["liver_parenchyma_ml"] == pytest.approx((19200 - 218) * voxel_ml)
    assert report["tumour_ml"] == pytest.approx(218 * voxel_ml)
    assert report["tumour_count"] == 2
    assert report["tumour_volumes_ml"] == pytest.approx([200 * voxel_ml, 18 * voxel_ml])
    assert report["tumour_burden_percent"] == pytest.approx(100.0 * 218 / 19200)
    assert report["spacing_mm"] == pytest.approx([0.5, 0.8, 2.0])


def test_numpy_input_needs_spacing_and_agrees_with_image() -> None:
    image = _labels()
    array = sitk.GetArrayFromImage(image)
    assert liver_report(array, (0.5, 0.8, 2.0)) == liver_report(image)
    with pytest.raises(ValueError, match="spacing"):
        liver_report(array)
    with pytest.raises(ValueError, match="disagrees"):
        liver_report(image, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="3-D"):
        liver_report(array[0], (1.0, 1.0, 1.0))


def test_diagonally_touching_tumour_voxels_are_one_tumour_and_empty_liver_is_zero() -> None:
    array = np.zeros((5, 5, 5), np.uint8)
    array[1, 1, 1] = array[2, 2, 2] = 2
    array[4, 4, 4] = 2
    report = liver_report(array, (1.0, 1.0, 1.0))
    assert report["tumour_count"] == 2
    assert report["tumour_volumes_ml"] == pytest.approx([0.002, 0.001])
    assert report["tumour_burden_percent"] == pytest.approx(100.0)
    empty = liver_report(np.zeros((3, 3, 3), np.uint8), (1.0, 1.0, 1.0))
    assert empty["liver_ml"] == 0.0 and empty["tumour_burden_percent"] == 0.0 and empty["tumour_count"] == 0


def test_report_serialises_to_json_atomically(tmp_path: Path) -> None:
    report = liver_report(_labels())
    path = save_report(report, tmp_path / "report.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    with pytest.raises(OutputExistsError, match="report.json"):
        save_report(report, path)
    save_report({"liver_ml": 1.0}, path, overwrite=True)
    assert json.loads(path.read_text()) == {"liver_ml": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_real_segmentation_volume(shared_data: Path) -> None:
    image = sitk.ReadImage(str(shared_data / "ct" / "segmentation-2002.nii.gz"))
    report = liver_report(image)
    voxels = int((sitk.GetArrayFromImage(image) == 1).sum())
    assert report["liver_ml"] == pytest.approx(voxels * 27.0 / 1000.0)  # 3 mm isotropic voxels
    assert report["tumour_count"] == 0 and report["tumour_burden_percent"] == 0.0


def test_a_liver_under_300_ml_is_worded_as_a_warning() -> None:
    assert liver_notices({"liver_ml": 1489.0}) == []
    assert liver_notices({"liver_ml": SMALL_LIVER_ML}) == []
    (small,) = liver_notices({"liver_ml": 42.4})
    assert "the liver found is 42 mL, under 300 mL" in small and "field of view" in small
    assert "no liver was found" in liver_notices({"liver_ml": 0.0})[0]


def test_measures_against_the_reference_count_detected_reference_tumours() -> None:
    """Three reference tumours, two of them touched by predicted tumour voxels (one predicted blob spans both
    of those, two more lie outside): 2 of 3 detected, 3 predicted components, volumes from 2 x 1 x 1 mm voxels."""
    reference = np.zeros((4, 20, 20), dtype=np.uint8)
    reference[:, 2:18, 2:18] = 1
    for x in (3, 9, 15):
        reference[1:3, 5:7, x : x + 2] = 2
    predicted = np.where(reference > 0, 1, 0).astype(np.uint8)
    predicted[:, 2:18, 17] = 0  # a slimmer liver
    predicted[1:3, 5:7, 3:11] = 2  # covers the first two reference tumours
    predicted[1:3, 14:16, 14:16] = 2  # two false ones
    predicted[1:3, 10:12, 14:16] = 2
    m = measures_against_reference(predicted, reference, (1.0, 1.0, 2.0))
    assert m["reference_liver_ml"] == pytest.approx(4 * 16 * 16 * 0.002)
    assert m["liver_ml"] == pytest.approx(4 * 16 * 15 * 0.002)
    assert m["liver_volume_error_percent"] == pytest.approx(-100 / 16)
    assert (m["tumour_count"], m["reference_tumour_count"], m["tumours_detected"]) == (3, 3, 2)
    assert m["tumour_detection_rate"] == pytest.approx(2 / 3)
    # whole organ: 4 x 16 x 16 reference voxels, the prediction lacks one column of 4 x 16 and adds none
    assert m["organ_dice"] == pytest.approx(2 * 960 / (1024 + 960))
    swapped = np.where(reference == 2, 1, np.where(reference == 1, 2, 0)).astype(np.uint8)
    assert measures_against_reference(swapped, reference, (1.0, 1.0, 2.0))["organ_dice"] == 1.0, "labels merged"
    empty = measures_against_reference(np.zeros_like(reference), np.zeros_like(reference), (1.0, 1.0, 2.0))
    assert empty["liver_volume_error_percent"] is None and empty["tumour_detection_rate"] is None
    assert empty["organ_dice"] is None
