"""condswin.ct.phantom: deterministic, plausible HU per tissue, clean LiTS labels, requested tumour count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.datasets import check_case, find_cases
from condswin.ct.phantom import generate_phantom, make_phantom, write_lits_case, write_lits_dataset
from condswin.ct.phantom_canvas import Tissue
from condswin.ct.postprocess import postprocess_labels
from condswin.ct.report import liver_report
from condswin.io.images import OutputExistsError, read_image

SMALL = (96, 96, 24)
TALL = dict(shape=(96, 96, 48), spacing=(4.2, 4.2, 5.0))  # 240 mm: lung bases down to the kidneys


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def test_same_seed_same_phantom_different_seed_differs() -> None:
    ct_a, labels_a = make_phantom(11, shape=SMALL)
    ct_b, labels_b = make_phantom(11, shape=SMALL)
    np.testing.assert_array_equal(_array(ct_a), _array(ct_b))
    np.testing.assert_array_equal(_array(labels_a), _array(labels_b))
    assert (ct_a.GetSpacing(), ct_a.GetOrigin(), ct_a.GetDirection()) == (
        ct_b.GetSpacing(),
        ct_b.GetOrigin(),
        ct_b.GetDirection(),
    )
    ct_c, labels_c = make_phantom(12, shape=SMALL, spacing=ct_a.GetSpacing())
    assert not np.array_equal(_array(labels_a), _array(labels_c))  # different anatomy, not only noise
    assert not np.array_equal(_array(ct_a), _array(ct_c))


def test_types_and_shared_geometry() -> None:
    ct, labels = make_phantom(3, shape=(64, 80, 16), spacing=(1.5, 1.5, 2.5))
    assert ct.GetPixelID() == sitk.sitkInt16 and labels.GetPixelID() == sitk.sitkUInt8
    assert ct.GetSize() == (64, 80, 16)
    assert ct.GetSpacing() == (1.5, 1.5, 2.5)
    assert (labels.GetSize(), labels.GetSpacing(), labels.GetOrigin(), labels.GetDirection()) == (
        ct.GetSize(),
        ct.GetSpacing(),
        ct.GetOrigin(),
        ct.GetDirection(),
    )
    assert set(np.unique(_array(labels))) <= {0, 1, 2}
    hu = _array(ct)
    assert hu.min() >= -1024 and hu.max() <= 3071


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_spacing_is_ct_like(seed: int) -> None:
    case = generate_phantom(seed, shape=(64, 64, 8), num_tumours=0)
    sx, sy, sz = case.ct.GetSpacing()
    assert sx == sy and 360.0 <= sx * 64 <= 460.0  # in-plane field of view in mm
    assert sz in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)


# Plausible mean HU of each tissue on contrast CT (radiology teaching values, generous bounds).
_PLAUSIBLE = {
    "native": {Tissue.LIVER: (45, 70), Tissue.AORTA: (25, 55), Tissue.SPLEEN: (35, 60)},
    "arterial": {Tissue.LIVER: (55, 95), Tissue.AORTA: (200, 400), Tissue.KIDNEY_CORTEX: (150, 260)},
    "portal": {Tissue.LIVER: (85, 135), Tissue.AORTA: (120, 220), Tissue.SPLEEN: (95, 140)},
}
_ANY_PHASE = {
    Tissue.AIR: (-1024, -950),
    Tissue.SUBCUTANEOUS_FAT: (-135, -75),
    Tissue.MUSCLE: (30, 80),
    Tissue.LUNG: (-920, -780),
    Tissue.BONE_CANCELLOUS: (130, 350),
}


@pytest.mark.parametrize("phase", ["native", "arterial", "portal"])
def test_tissue_hu_is_plausible(phase: str) -> None:
    case = generate_phantom(5, phase=phase, num_tumours=0, **TALL)
    hu = _array(case.ct)
    for tissue, (low, high) in {**_ANY_PHASE, **_PLAUSIBLE[phase]}.items():
        core = ndimage.binary_erosion(case.tissue == tissue, np.ones((1, 3, 3), bool))  # away from blurred edges
        assert core.sum() > 20, f"{tissue.name} missing"
        median = float(np.median(hu[core]))
        assert low <= median <= high, f"{phase} {tissue.name}: median {median} HU not in [{low}, {high}]"


def test_anatomy_around_the_liver_is_present() -> None:
    case = generate_phantom(8, **TALL)
    present = set(np.unique(case.tissue).tolist())
    for tissue in (
        Tissue.SKIN,
        Tissue.SUBCUTANEOUS_FAT,
        Tissue.MUSCLE,
        Tissue.VISCERAL_FAT,
        Tissue.LIVER,
        Tissue.SPLEEN,
        Tissue.KIDNEY_CORTEX,
        Tissue.AORTA,
        Tissue.IVC,
        Tissue.BONE_CORTICAL,
        Tissue.BONE_CANCELLOUS,
        Tissue.LUNG,
    ):
        assert tissue in present, tissue.name
    # Left-right: liver on the patient's right (LPS: negative x), spleen on the left.
    x = case.ct.GetOrigin()[0] + case.ct.GetSpacing()[0] * np.arange(case.ct.GetSize()[0])
    liver_x = x[np.nonzero(case.tissue == Tissue.LIVER)[2]].mean()
    spleen_x = x[np.nonzero(case.tissue == Tissue.SPLEEN)[2]].mean()
    assert liver_x < 0 < spleen_x


def test_noise_level_follows_the_request() -> None:
    quiet = generate_phantom(4, shape=SMALL, noise_hu=0.0, num_tumours=0)
    far_air = ndimage.binary_erosion(quiet.tissue == Tissue.AIR, np.ones((1, 3, 3), bool), iterations=3)
    assert np.all(_array(quiet.ct)[far_air] == -1000)
    noisy = generate_phantom(4, shape=SMALL, noise_hu=10.0, num_tumours=0)
    air = ndimage.binary_erosion(noisy.tissue == Tissue.AIR, iterations=3)
    assert 8.5 < float(_array(noisy.ct)[air].std()) < 11.5


@pytest.mark.parametrize("count", [0, 1, 4, 6])
def test_tumour_count_matches_request_and_labels_are_clean(count: int) -> None:
    case = generate_phantom(20 + count, shape=SMALL, num_tumours=count)
    labels = _array(case.labels)
    assert liver_report(case.labels)["tumour_count"] == count
    assert len(case.tumours) == count
    # One liver with its tumours inside: post-processing (without hole filling) has nothing to change.
    np.testing.assert_array_equal(postprocess_labels(labels, fill_holes=False), labels)
    body = ~np.isin(case.tissue, [Tissue.AIR, Tissue.TABLE])
    assert not (labels > 0)[~body].any()


def test_random_tumour_count_is_within_zero_to_six_and_varied() -> None:
    counts = {len(generate_phantom(seed, shape=(64, 64, 12)).tumours) for seed in range(8)}
    assert counts <= set(range(7)) and len(counts) >= 3


def test_tumours_vary_in_kind_and_contrast() -> None:
    tumours = [t for seed in range(4) for t in generate_phantom(seed, shape=SMALL, num_tumours=6).tumours]
    assert len({t.kind for t in tumours}) >= 3
    contrasts = [t.contrast_hu for t in tumours]
    assert min(contrasts) < -15 and max(contrasts) > 15  # both hypo- and hyperdense lesions
    sizes = [max(t.semi_axes_mm) for t in tumours]
    assert max(sizes) > 2 * min(sizes)


def test_geometries_sample_the_same_anatomy() -> None:
    reference = generate_phantom(9, shape=SMALL, noise_hu=0.0, num_tumours=2)
    assert reference.ct.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    for geometry in ("flipped", "tilted"):
        other = generate_phantom(9, shape=SMALL, noise_hu=0.0, num_tumours=2, geometry=geometry)
        direction = np.array(other.ct.GetDirection()).reshape(3, 3)
        np.testing.assert_allclose(direction @ direction.T, np.eye(3), atol=1e-12)
        assert not np.allclose(direction, np.eye(3))
        if geometry == "tilted":
            tilt = np.degrees(np.arccos(direction[2, 2]))
            assert 8.0 <= tilt <= 20.0 and direction[0, 0] == 1.0
        resampled = sitk.Resample(other.labels, reference.labels, sitk.Transform(), sitk.sitkNearestNeighbor, 255)
        moved = _array(resampled)
        overlap = moved != 255
        agree = np.mean(moved[overlap] == _array(reference.labels)[overlap])
        assert agree > (0.999 if geometry == "flipped" else 0.95)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        make_phantom(0, shape=(64, 64))
    with pytest.raises(ValueError, match="spacing"):
        make_phantom(0, shape=SMALL, spacing=(1.0, -1.0, 2.0))
    with pytest.raises(ValueError, match="num_tumours"):
        make_phantom(0, shape=SMALL, num_tumours=-1)
    with pytest.raises(ValueError, match="phase"):
        make_phantom(0, shape=SMALL, phase="delayed")
    with pytest.raises(ValueError, match="geometry"):
        make_phantom(0, shape=SMALL, geometry="sagittal")
    with pytest.raises(ValueError, match="seed"):
        make_phantom(-3, shape=SMALL)


def test_too_many_tumours_for_a_tiny_liver_slab_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="tumours"):
        make_phantom(0, shape=(16, 16, 8), spacing=(2.0, 2.0, 1.0), num_tumours=20)


def test_write_lits_case_and_dataset(tmp_path: Path) -> None:
    volume, segmentation = write_lits_case(tmp_path, 7, seed=31, shape=(48, 48, 10), num_tumours=2)
    assert (volume.name, segmentation.name) == ("volume-7.nii.gz", "segmentation-7.nii.gz")
    ct, labels = make_phantom(31, shape=(48, 48, 10), num_tumours=2)
    np.testing.assert_array_equal(_array(read_image(volume)), _array(ct))
    np.testing.assert_array_equal(_array(read_image(segmentation)), _array(labels))
    assert read_image(volume).GetDirection() == ct.GetDirection()
    with pytest.raises(OutputExistsError, match="volume-7"):
        write_lits_case(tmp_path, 7, seed=1, shape=(48, 48, 10))
    write_lits_dataset(tmp_path, 2, seed=100, first_index=0, shape=(48, 48, 10))
    cases = find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["0", "1", "7"]
    for case in cases:
        info = check_case(case.volume_path, case.label_path)
        assert set(info.labels_present) <= {0, 1, 2} and 1 in info.labels_present
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
