"""condswin.ct.postprocess: largest liver kept, tumours only inside it, holes filled."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.postprocess import largest_component, postprocess_labels, tumour_enclosure, unenclosed_tumour


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


def _liver_with_a_bridged_neighbour(bridge: int) -> np.ndarray:
    """A liver block and a bowel-like block beside it, joined by a bridge ``bridge`` voxels thick (1 mm voxels)."""
    labels = np.zeros((24, 40, 70), np.uint8)
    labels[2:22, 5:35, 3:33] = 1  # the liver: 20 × 30 × 30 mm
    labels[4:20, 10:30, 45:65] = 1  # a neighbour called liver: 16 × 20 × 20 mm
    low_z, low_y = 12 - bridge // 2, 20 - bridge // 2
    labels[low_z : low_z + bridge, low_y : low_y + bridge, 33:45] = 1  # the bridge between them
    labels[8:13, 12:17, 3:8] = 2  # a tumour at the liver's surface
    return labels


def test_detach_cuts_what_hangs_on_the_liver_by_a_thin_bridge_and_keeps_its_outline() -> None:
    thin = _liver_with_a_bridged_neighbour(bridge=4)  # 4 mm: narrower than 2 × 5 mm
    out = postprocess_labels(thin, (1.0, 1.0, 1.0), detach_mm=5.0)
    assert not out[:, :, 40:].any()  # the neighbour and most of the bridge are gone
    liver = thin[:, :, :33] > 0
    kept = (out[:, :, :33] > 0) & liver
    # an opening: only the block's edges are rounded (by 5 mm on a 20 × 30 × 30 mm block), nothing is added
    assert kept.sum() > 0.8 * liver.sum() and not ((out[:, :, :33] > 0) & ~liver).any()
    np.testing.assert_array_equal(out[8:13, 12:17, 3:8], 2)  # the tumour at its surface kept whole
    assert (postprocess_labels(thin) == thin).all()  # without detach_mm the bridge keeps the neighbour
    # a neck as thick as the organs themselves is no neck: the neighbour stays (its corners rounded)
    thick = _liver_with_a_bridged_neighbour(bridge=16)
    neighbour = postprocess_labels(thick, (1.0, 1.0, 1.0), detach_mm=5.0)[:, :, 45:] > 0
    assert neighbour.sum() > 0.75 * (thick[:, :, 45:] > 0).sum()


def test_detach_works_in_mm_on_anisotropic_voxels_and_keeps_a_thin_organ() -> None:
    # 0.5 mm in-plane, 1 mm slices: a bridge of 8 × 8 voxels is 4 mm wide, a neck for 3 mm (it would not be in
    # voxel units: 8 > 2 × 3)
    bridged = _liver_with_a_bridged_neighbour(bridge=8)
    out = postprocess_labels(bridged, (0.5, 0.5, 1.0), detach_mm=3.0)
    assert not out[:, :, 45:].any() and out[:, :, :33].any()
    assert postprocess_labels(bridged, (1.0, 1.0, 1.0), detach_mm=3.0)[:, :, 45:].any()
    # an organ thinner than 2 × detach_mm everywhere is kept as the plain largest component
    sheet = np.zeros((6, 30, 30), np.uint8)
    sheet[2:4, 3:27, 3:27] = 1
    np.testing.assert_array_equal(postprocess_labels(sheet, (1.0, 1.0, 1.0), detach_mm=5.0), sheet)
    with pytest.raises(ValueError, match="need the voxel spacing"):
        postprocess_labels(sheet, detach_mm=5.0)


def test_the_segmentation_jobs_liver_postprocessing_cuts_at_necks() -> None:
    from types import SimpleNamespace

    from condswin.jobs.segmentation import postprocess_for_card

    image = sitk.GetImageFromArray(_liver_with_a_bridged_neighbour(bridge=4))
    image.SetSpacing((1.0, 1.0, 1.0))
    card = SimpleNamespace(contract=SimpleNamespace(postprocess="liver", axis="axial"))
    out, ran = postprocess_for_card(image, card)  # type: ignore[arg-type]  # the only field it reads
    assert ran and not sitk.GetArrayFromImage(out)[:, :, 40:].any()


def _liver_with_three_tumours() -> np.ndarray:
    """A 40 × 40 × 40 mm liver (1 mm voxels) holding a tumour deep inside, one at its surface (a quarter of it
    outside), and a tumour-labelled blob that only touches it (a neighbour a network called tumour)."""
    labels = np.zeros((50, 50, 80), np.uint8)
    labels[5:45, 5:45, 5:45] = 1
    labels[20:28, 20:28, 20:28] = 2  # deep inside
    labels[10:18, 10:18, 39:47] = 2  # at the surface: x 39–44 in the liver, 45–46 outside
    labels[20:30, 20:30, 45:60] = 2  # outside, touching the liver's face at x = 45
    return labels


def test_tumour_enclosure_measures_the_liver_around_each_tumour() -> None:
    labels = _liver_with_three_tumours()
    components, fractions = tumour_enclosure(labels == 2, labels > 0, (1.0, 1.0, 1.0), shell_mm=3.0)
    deep, surface, outside = (int(components[z, y, x]) for z, y, x in ((24, 24, 24), (14, 14, 42), (25, 25, 55)))
    assert len({deep, surface, outside}) == 3 and fractions[0] == 1.0
    assert fractions[deep] == 1.0  # liver all round
    assert 0.6 < fractions[surface] < 0.9  # liver on most sides, the outside on one
    assert fractions[outside] < 0.3  # liver only on the face it touches
    # anisotropic voxels: the shell is measured in mm, as a distance map over the whole array measures it
    spacing = (1.7, 0.7, 0.45)
    components, fractions = tumour_enclosure(labels == 2, labels > 0, spacing, shell_mm=3.0)
    for number in range(1, int(components.max()) + 1):
        distance = ndimage.distance_transform_edt(components != number, sampling=spacing)
        shell = (distance > 0) & (distance <= 3.0)
        assert fractions[number] == pytest.approx((labels > 0)[shell].mean())


def test_tumours_the_liver_does_not_enclose_become_background() -> None:
    labels = _liver_with_three_tumours()
    out = postprocess_labels(labels, (1.0, 1.0, 1.0), min_tumour_enclosure=0.6)
    np.testing.assert_array_equal(out[20:28, 20:28, 20:28], 2)
    np.testing.assert_array_equal(out[10:18, 10:18, 39:47], 2)  # a tumour at the surface is kept whole
    assert not out[:, :, 47:].any()  # the outside blob is gone: background, not liver
    np.testing.assert_array_equal(out[5:45, 5:45, 5:45] > 0, True)  # the liver itself keeps every voxel
    np.testing.assert_array_equal(postprocess_labels(labels), labels)  # 0 (the default) keeps every tumour
    with pytest.raises(ValueError, match="need the voxel spacing"):
        postprocess_labels(labels, min_tumour_enclosure=0.6)


def test_a_tumour_joined_to_false_tumour_outside_the_liver_keeps_its_own_slices() -> None:
    # a surface tumour (z 14–33, mostly inside the liver) that the network joined, in slices 6–17, to a larger
    # blob outside the liver: the joined component fails as a whole
    labels = np.zeros((50, 50, 90), np.uint8)
    labels[5:45, 5:45, 5:45] = 1
    labels[14:34, 15:35, 30:47] = 2
    labels[6:18, 10:40, 45:80] = 2
    tumour, organ = labels == 2, labels > 0
    whole = unenclosed_tumour(tumour, organ, (1.0, 1.0, 1.0), 0.6)
    assert whole.sum() == tumour.sum()  # one component, dropped whole
    by_slice = unenclosed_tumour(tumour, organ, (1.0, 1.0, 1.0), 0.6, slice_axis=0)
    assert by_slice[6:18].sum() == tumour[6:18].sum()  # the slices where they are joined go
    assert not by_slice[18:].any()  # the tumour's own slices stay
    # a component that passes is never looked at slice by slice: this one's top two slices, above the liver,
    # would fail alone
    capped = np.zeros_like(labels)
    capped[5:45, 5:45, 5:45] = 1
    capped[3:20, 15:35, 15:35] = 2
    capped[25:35, 20:30, 55:70] = 2  # and a blob away from the liver, which fails
    dropped = unenclosed_tumour(capped == 2, capped > 0, (1.0, 1.0, 1.0), 0.6, slice_axis=0)
    assert dropped[:, :, 55:].all(where=capped[:, :, 55:] == 2) and not dropped[:, :, :55].any()
    out = postprocess_labels(labels, (1.0, 1.0, 1.0), min_tumour_enclosure=0.6, slice_axis=0)
    assert (out[18:34, 15:35, 30:45] == 2).all() and not out[:, :, 47:].any()


def test_the_segmentation_job_looks_at_a_failing_tumour_in_the_networks_slices() -> None:
    from types import SimpleNamespace

    from condswin.jobs.segmentation import postprocess_for_card

    # as above, with a blob thick enough (18 mm) that the job's 6 mm neck cut leaves it joined to the tumour
    labels = np.zeros((50, 50, 90), np.uint8)
    labels[5:45, 5:45, 5:45] = 1
    labels[14:34, 15:35, 30:47] = 2
    labels[2:20, 8:42, 45:85] = 2
    # stored with numpy axes (y, x, z): the axial slices run along numpy axis 2 (SimpleITK's i points superior)
    image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 2, 0)))
    image.SetDirection((0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0))
    card = SimpleNamespace(contract=SimpleNamespace(postprocess="liver", axis="axial"))
    out = sitk.GetArrayFromImage(postprocess_for_card(image, card)[0]).transpose(2, 0, 1)  # type: ignore[arg-type]
    assert (out[20:32, 18:32, 32:44] == 2).all() and not out[:, :, 50:].any()


def test_the_segmentation_jobs_postprocessing_drops_unenclosed_and_tiny_tumours() -> None:
    from types import SimpleNamespace

    from condswin.jobs.segmentation import postprocess_for_card

    labels = _liver_with_three_tumours()
    labels[30, 30, 30] = 2  # a one-voxel "tumour" (1 µL) inside the liver
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((1.0, 1.0, 1.0))
    card = SimpleNamespace(contract=SimpleNamespace(postprocess="liver", axis="axial"))
    out = sitk.GetArrayFromImage(postprocess_for_card(image, card)[0])  # type: ignore[arg-type]
    assert not out[:, :, 47:].any() and out[30, 30, 30] == 1
    assert (out[20:28, 20:28, 20:28] == 2).all()
    assert (out[10:18, 10:18, 39:47] == 2).mean() > 0.8  # what bulges out rounded by the cut at necks
