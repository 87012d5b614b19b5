"""condswin.ct.phantom: every tissue stays inside the body, labels stay LiTS {0, 1, 2} and follow the tissues."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.phantom import generate_phantom
from condswin.ct.phantom_canvas import LIVER_TISSUES, Tissue

# 3 mm pixels resolve the 2 mm skin and at least 6 mm of subcutaneous fat, so a deeper tissue touching the
# air outside the patient is a tissue that left the body; 200 mm of z reach from the lung bases to the pancreas.
GRID = dict(shape=(128, 128, 40), spacing=(3.0, 3.0, 5.0))
OUTSIDE = np.array([Tissue.AIR, Tissue.TABLE], dtype=np.uint8)
BODY_SURFACE = np.array([Tissue.SKIN, Tissue.SUBCUTANEOUS_FAT], dtype=np.uint8)
IN_PLANE = ndimage.generate_binary_structure(3, 1) * np.array([0, 1, 0], dtype=bool)[:, None, None]


def _adult_liver_shape() -> sitk.Image:
    """An ellipsoid liver mask 220 mm wide, 190 mm deep, 170 mm tall (an adult's; the body grows to hold it)."""
    axes = [(np.arange(n) - (n - 1) / 2) * 5.0 for n in (40, 44, 50)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    image = sitk.GetImageFromArray(((x / 110) ** 2 + (y / 95) ** 2 + (z / 85) ** 2 < 1).astype(np.uint8))
    image.SetSpacing((5.0, 5.0, 5.0))
    return image


@pytest.mark.parametrize(
    ("seed", "phase", "liver_shape"),
    [(0, "portal", False), (1, "arterial", False), (2, "native", False), (3, "portal", False), (4, "portal", True)],
)
def test_every_tissue_stays_inside_the_body_and_labels_follow_the_tissues(
    seed: int, phase: str, liver_shape: bool
) -> None:
    shape = _adult_liver_shape() if liver_shape else None
    case = generate_phantom(seed, phase=phase, num_tumours=4, liver_mask=shape, **GRID)
    tissue = case.tissue
    outside = np.isin(tissue, OUTSIDE)
    # No tissue floats outside the patient: every tissue under the skin and subcutaneous fat (the surface layers,
    # which break into slivers where they are thinner than a 3 mm pixel) lies in the body's outline, the
    # largest connected body filled slice by slice.
    deep = ~outside & ~np.isin(tissue, BODY_SURFACE)
    components, _ = ndimage.label(~outside, structure=np.ones((3, 3, 3), dtype=bool))
    body = components == np.argmax(np.bincount(components[components > 0]))
    body = np.stack([ndimage.binary_fill_holes(plane) for plane in body])
    stray = deep & ~body
    assert not stray.any(), f"outside the body: {sorted(Tissue(v).name for v in np.unique(tissue[stray]))}"
    # Only skin and subcutaneous fat meet the air around the patient (in-plane neighbours).
    touching = deep & ndimage.binary_dilation(outside, structure=IN_PLANE)
    assert not touching.any(), (
        f"tissues at the body surface: {sorted(Tissue(v).name for v in np.unique(tissue[touching]))}"
    )
    # The pancreas and duodenum, the liver's dense neighbours, are there and are background.
    labels = sitk.GetArrayFromImage(case.labels)
    assert np.any(tissue == Tissue.PANCREAS)
    assert set(np.unique(labels).tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(labels == 1, np.isin(tissue, np.array(sorted(LIVER_TISSUES), dtype=np.uint8)))
    np.testing.assert_array_equal(labels == 2, tissue == Tissue.TUMOUR)
    # Every tumour, subcapsular ones bulging out of the liver included, touches the liver.
    tumours, count = ndimage.label(labels == 2, structure=np.ones((3, 3, 3), dtype=bool))
    assert count == len(case.tumours) == 4
    next_to_liver = ndimage.binary_dilation(labels == 1, structure=np.ones((3, 3, 3), dtype=bool))
    assert set(np.unique(tumours[next_to_liver & (tumours > 0)]).tolist()) == set(range(1, count + 1))


def test_tumours_span_five_to_a_hundred_millimetres_and_some_are_subcapsular() -> None:
    tumours = [t for seed in range(6) for t in generate_phantom(seed, num_tumours=6, **GRID).tumours]
    diameters = [2 * max(t.semi_axes_mm) for t in tumours]
    assert min(diameters) < 20 and max(diameters) > 50
    assert all(3.5 <= d <= 125 for d in diameters)  # radius 2.5–50 mm, semi-axes 0.75–1.25 of it
    assert any(t.subcapsular for t in tumours) and not all(t.subcapsular for t in tumours)
    hypodense = [t.contrast_hu for t in tumours if t.kind == "hypodense"]
    assert hypodense and max(hypodense) > -25  # faint lesions too, as real metastases often are


@pytest.mark.parametrize("seed", [0, 1])
def test_a_head_holds_brain_inside_its_skull_and_no_label(seed: int) -> None:
    """A head phantom: labels 0 everywhere; skin outermost; the brain enclosed by bone in every slice it is in."""
    case = generate_phantom(seed, shape=(96, 96, 12), region="head")
    assert not sitk.GetArrayViewFromImage(case.labels).any() and case.tumours == []
    tissue = case.tissue
    assert not np.isin(tissue, np.array(sorted(LIVER_TISSUES | {Tissue.TUMOUR}), dtype=np.uint8)).any()
    outside = np.isin(tissue, OUTSIDE)
    touching = ~outside & ~np.isin(tissue, BODY_SURFACE) & ndimage.binary_dilation(outside, structure=IN_PLANE)
    assert not touching.any(), f"at the surface: {sorted(Tissue(v).name for v in np.unique(tissue[touching]))}"
    for plane in tissue:
        brain = plane == Tissue.BRAIN
        if brain.any():
            skull = np.isin(plane, np.array([Tissue.BONE_CORTICAL, Tissue.BONE_CANCELLOUS], dtype=np.uint8))
            inside_skull = ndimage.binary_fill_holes(skull) & ~skull
            assert np.all(inside_skull[brain])
    assert 220.0 <= case.ct.GetSpacing()[0] * 96 <= 280.0  # a head field of view


def test_a_chest_holds_lung_and_no_label_and_the_abdomen_is_the_default_region() -> None:
    chest = generate_phantom(3, region="chest", **GRID)
    assert not sitk.GetArrayViewFromImage(chest.labels).any()
    assert np.any(chest.tissue == Tissue.LUNG)
    default, abdomen = generate_phantom(3, **GRID), generate_phantom(3, region="abdomen", **GRID)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(default.ct), sitk.GetArrayViewFromImage(abdomen.ct))
    with pytest.raises(ValueError, match="holds no liver"):
        generate_phantom(3, region="head", num_tumours=2, **GRID)
    with pytest.raises(ValueError, match="unknown region"):
        generate_phantom(3, region="pelvis", **GRID)
