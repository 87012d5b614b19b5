"""condswin.ct.postprocess: largest liver kept, tumours only inside it, holes filled."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.ct.postprocess import largest_component, postprocess_labels


def _two_livers() -> np.ndarray:
    labels = np.zeros((10, 30, 40), np.uint8)
    labels[2:8, 5:25, 3:20] = 1  # big liver, 6*20*17 voxels
    labels[3:6, 10:14, 28:33] = 1  # small separate blob (e.g. spleen misclassified)
    return labels


def test_largest_liver_component_is_kept() -> None:
    labels = _two_livers()
    out = postprocess_labels(labels)
    assert out.dtype == np.uint8 and out.shape == labels.shape
    assert np.count_nonzero(out) == 6 * 20 * 17
    assert not out[3:6, 10:14, 28:33].any()


def test_tumour_outside_the_liver_is_removed_and_inside_kept() -> None:
    labels = _two_livers()
    labels[4:6, 10:13, 8:11] = 2  # inside the big liver
    labels[3:6, 10:14, 30:33] = 2  # in the small blob
    labels[8:10, 0:3, 36:40] = 2  # floating alone
    out = postprocess_labels(labels)
    assert np.count_nonzero(out == 2) == 2 * 3 * 3
    assert (out[4:6, 10:13, 8:11] == 2).all()
    assert not out[:, :, 28:].any()


def test_tumour_at_liver_edge_keeps_its_liver_connected() -> None:
    labels = np.zeros((8, 20, 30), np.uint8)
    labels[1:7, 2:18, 2:12] = 1
    labels[1:7, 2:18, 16:26] = 1  # the same size as the first lobe
    labels[2:5, 8:12, 12:16] = 2  # a tumour bridging the two lobes joins them into one organ
    out = postprocess_labels(labels)
    np.testing.assert_array_equal(out, labels)


def test_enclosed_hole_is_filled_with_liver_but_open_notch_is_not() -> None:
    labels = np.zeros((12, 30, 30), np.uint8)
    labels[1:11, 3:27, 3:27] = 1
    labels[4:8, 10:15, 10:15] = 0  # cavity enclosed in 3-D: a missed vessel
    labels[5:7, 20:23, 20:23] = 2  # a tumour: must stay a tumour
    labels[:, 0:10, 26:27] = 0  # a notch open to the outside
    out = postprocess_labels(labels)
    assert (out[4:8, 10:15, 10:15] == 1).all()
    assert (out[5:7, 20:23, 20:23] == 2).all()
    assert not out[:, 0:10, 26:27].any()
    unfilled = postprocess_labels(labels, fill_holes=False)
    assert not unfilled[4:8, 10:15, 10:15].any()


def test_small_tumours_become_liver_when_asked() -> None:
    labels = np.zeros((10, 20, 20), np.uint8)
    labels[:, 2:18, 2:18] = 1
    labels[2:4, 4:6, 4:6] = 2  # 8 voxels = 8 * 2 mm^3
    labels[5:9, 10:16, 10:16] = 2  # 144 voxels
    spacing = (1.0, 1.0, 2.0)  # x, y, z: 2 mm^3 per voxel
    out = postprocess_labels(labels, spacing, min_tumour_ml=0.1)  # 100 mm^3 threshold
    assert (out[2:4, 4:6, 4:6] == 1).all()
    assert (out[5:9, 10:16, 10:16] == 2).all()
    with pytest.raises(ValueError, match="spacing"):
        postprocess_labels(labels, min_tumour_ml=0.1)


def test_simpleitk_in_simpleitk_out_with_geometry_and_input_untouched() -> None:
    labels = _two_livers()
    labels[4:6, 10:13, 8:11] = 2
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.7, 0.7, 3.0))
    image.SetOrigin((10.0, 20.0, -30.0))
    image.SetDirection((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    before = sitk.GetArrayFromImage(image).copy()
    out = postprocess_labels(image)
    assert isinstance(out, sitk.Image)
    assert out.GetPixelID() == sitk.sitkUInt8
    assert (out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
    )
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), postprocess_labels(labels))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), before)
    with pytest.raises(ValueError, match="disagrees"):
        postprocess_labels(image, (1.0, 1.0, 1.0))


def test_numpy_input_untouched_and_bad_labels_refused() -> None:
    labels = _two_livers()
    copy = labels.copy()
    postprocess_labels(labels)
    np.testing.assert_array_equal(labels, copy)
    with pytest.raises(ValueError, match=r"unexpected label values \[5\]"):
        postprocess_labels(np.full((3, 3, 3), 5, np.uint8))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        postprocess_labels(np.zeros((2, 2, 2, 2), np.uint8))


def test_empty_input_gives_empty_output_and_diagonal_contact_connects() -> None:
    assert not postprocess_labels(np.zeros((4, 4, 4), np.uint8)).any()
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    np.testing.assert_array_equal(largest_component(mask), mask)  # 26-connected diagonal chain


@pytest.mark.parametrize("seed", range(6))
def test_bounding_box_hole_filling_equals_scipy(seed):
    from scipy import ndimage

    from condswin.ct.postprocess import fill_enclosed_holes

    rng = np.random.default_rng(seed)
    shape = (12, 30, 26) if seed % 2 else (40, 33)
    blobs = ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.5  # shells, cavities, pieces at the border
    if seed == 5:
        blobs[:] = False
    expected = ndimage.binary_fill_holes(blobs)
    filled = fill_enclosed_holes(blobs)
    assert np.array_equal(filled, expected)


def test_bounding_box_hole_filling_fills_a_cavity_and_keeps_open_pockets():
    from condswin.ct.postprocess import fill_enclosed_holes

    shell = np.zeros((20, 20, 20), dtype=bool)
    shell[4:15, 4:15, 4:15] = True
    shell[7:12, 7:12, 7:12] = False  # enclosed cavity
    shell[8:10, 8:10, 0:6] = False  # a dead-end tunnel from the outside (wall at z=6): stays open
    filled = fill_enclosed_holes(shell)
    assert filled[7:12, 7:12, 7:12].all()
    assert not filled[8:10, 8:10, 4:6].any()
