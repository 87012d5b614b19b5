"""Training data pipeline, CT: LiTS / Decathlon folders and on-the-fly phantoms (real liver shapes, randomisation).

Tiny data written by the tests in the real on-disk formats (LiTS NIfTI, Decathlon imagesTr/labelsTr), tiny
slice sizes, a few samples each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from condswin.bundles.contract import Normalization
from condswin.ct.phantom import generate_phantom, write_lits_case
from condswin.errors import UsageError
from condswin.inference import SliceLayout
from condswin.inference.engine import _resize as engine_resize
from condswin.training.config import config_from_dict
from condswin.training.data import DataSplits, SliceSample, build_datasets
from condswin.training.data.ct_phantom import (
    LIVER_SHAPES_LICENCE,
    PHANTOM_SLICES,
    choose_slices,
    deform_shape,
    read_shape,
)

SIZE = [32, 32]
NO_AUGMENT = {"probability": 0.0, "intensity": 0.0}


def _config(tmp: Path, data: dict, task: str = "segmentation"):
    return config_from_dict({"task": task, "data": data, "trainer": {"output_dir": str(tmp / "run")}})


@pytest.fixture(scope="module")
def lits_root(tmp_path_factory) -> Path:
    """Five LiTS cases, one stored x/y-flipped as many NIfTI writers store CT, one uncompressed (``.nii``)."""
    root = tmp_path_factory.mktemp("lits")
    for index in range(5):
        geometry = "flipped" if index == 1 else "axial"
        write_lits_case(root, index, seed=10 + index, shape=(40, 40, 10), spacing=(9.0, 9.0, 12.0), geometry=geometry)
    for name in ("volume-4", "segmentation-4"):
        image = sitk.ReadImage(str(root / f"{name}.nii.gz"))
        sitk.WriteImage(image, str(root / f"{name}.nii"), useCompression=False)
        (root / f"{name}.nii.gz").unlink()
    return root


def _ids(dataset) -> set[str]:
    return {dataset[i].volume for i in range(len(dataset))}


def test_lits_samples_have_the_promised_shapes_types_and_ranges(lits_root, tmp_path):
    splits = build_datasets(
        _config(tmp_path, {"kind": "lits", "root": str(lits_root), "size": SIZE, "val_volumes": 1, "test_volumes": 1})
    )
    assert isinstance(splits, DataSplits)
    assert (splits.in_channels, splits.out_channels) == (1, 3)
    assert splits.input_contract["normalization"] == {"kind": "hu_window", "low": -100.0, "high": 400.0}
    assert splits.input_contract["size"] == SIZE and splits.input_contract["axis"] == "axial"
    assert [label["value"] for label in splits.output_contract["labels"]] == [1, 2]
    assert "CC BY-NC-SA" in splits.licences[0] and "lits" in splits.description
    for dataset in (splits.train, splits.val, splits.test):
        sample = dataset[0]
        assert isinstance(sample, SliceSample)
        assert sample.image.shape == (1, *SIZE) and sample.image.dtype == torch.float32
        assert sample.target.shape == tuple(SIZE) and sample.target.dtype == torch.int64
        assert set(sample.target.unique().tolist()) <= {0, 1, 2}
        assert (sample.scale, sample.offset) == (1.0, 0.0)
    val = splits.val[0].image
    assert 0.0 <= float(val.min()) and float(val.max()) <= 1.0  # windowed, never augmented


def test_whole_volumes_are_held_out_by_a_seeded_split(lits_root, tmp_path):
    data = {"kind": "lits", "root": str(lits_root), "size": SIZE, "val_volumes": 2, "test_volumes": 1}
    first = build_datasets(_config(tmp_path, data))
    train, val, test = _ids(first.train), _ids(first.val), _ids(first.test)
    assert len(train) == 2 and len(val) == 2 and len(test) == 1
    assert not (train & val) and not (train & test) and not (val & test)
    # every used slice of a volume lies in one split
    assert sorted(first.val.slices_of(sorted(val)[0])) == list(range(len(first.val.slices_of(sorted(val)[0]))))
    again = build_datasets(_config(tmp_path, data))
    assert (_ids(again.train), _ids(again.val), _ids(again.test)) == (train, val, test)
    splits = {frozenset(_ids(build_datasets(_config(tmp_path, {**data, "split_seed": s})).val)) for s in range(6)}
    assert len(splits) > 1, "the split seed must change which volumes are held out"


def test_validation_is_deterministic_and_training_is_fresh(lits_root, tmp_path):
    config = _config(tmp_path, {"kind": "lits", "root": str(lits_root), "size": SIZE, "val_volumes": 2})
    first, second = build_datasets(config), build_datasets(config)
    for i in range(len(first.val)):
        assert torch.equal(first.val[i].image, second.val[i].image)
        assert torch.equal(first.val[i].target, second.val[i].target)
    draws = [first.train[3].image for _ in range(4)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:]), "training samples must get fresh augmentation"


def test_ct_slices_are_prepared_exactly_as_inference_prepares_them(lits_root, tmp_path):
    """Windowing, orientation (a flipped file) and resize equal the engine's, slice for slice."""
    data = {"kind": "lits", "root": str(lits_root), "val_root": str(lits_root), "size": SIZE}
    splits = build_datasets(_config(tmp_path, data))
    normalization = Normalization(kind="hu_window", low=-100.0, high=400.0, clip=True)
    checked = 0
    for case in ("1", "4"):  # the flipped case and the uncompressed (memory-mapped in place) case
        suffix = ".nii" if case == "4" else ".nii.gz"
        image = sitk.ReadImage(str(lits_root / f"volume-{case}{suffix}"))
        labels = sitk.ReadImage(str(lits_root / f"segmentation-{case}{suffix}"))
        layout = SliceLayout.from_image(image, "axial")
        slices = layout.slices(sitk.GetArrayFromImage(image))
        label_slices = layout.slices(sitk.GetArrayFromImage(labels))
        for item in splits.val.slices_of(case):
            sample = splits.val[item]
            raw = slices[sample.slice_index][None]
            offsets, scales = normalization.offsets_and_scales(raw, None)
            expected = engine_resize(torch.from_numpy(normalization.apply(raw, offsets, scales))[None], tuple(SIZE))
            assert torch.allclose(sample.image, expected[0], atol=1e-6)
            if sample.target.any():
                assert label_slices[sample.slice_index].any()
            checked += 1
    assert checked > 0


def test_decathlon_layout(tmp_path):
    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for index in range(3):
        case = generate_phantom(20 + index, (32, 32, 8), spacing=(11.0, 11.0, 15.0))
        sitk.WriteImage(case.ct, str(root / "imagesTr" / f"liver_{index}.nii.gz"))
        sitk.WriteImage(case.labels, str(root / "labelsTr" / f"liver_{index}.nii.gz"))
    splits = build_datasets(_config(tmp_path, {"kind": "decathlon", "root": str(root), "size": SIZE, "val_volumes": 1}))
    assert _ids(splits.val) | _ids(splits.train) == {"liver_0", "liver_1", "liver_2"}
    assert "Decathlon" in splits.licences[0]
    assert splits.train[0].image.shape == (1, *SIZE)


def test_phantom_samples_and_disjoint_seeds(tmp_path):
    data = {"kind": "phantom", "size": SIZE, "train_volumes": 2, "val_volumes": 1, "test_volumes": 1}
    splits = build_datasets(_config(tmp_path, {**data, "slices_per_volume": 3}))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 3, 3)
    train, val, test = _ids(splits.train), _ids(splits.val), _ids(splits.test)
    assert train == {"phantom-0", "phantom-1"} and val == {"phantom-2"} and test == {"phantom-3"}
    for dataset in (splits.train, splits.val, splits.test):
        sample = dataset[1]
        assert sample.image.shape == (1, *SIZE) and sample.target.shape == tuple(SIZE)
        assert sample.target.dtype == torch.int64 and set(sample.target.unique().tolist()) <= {0, 1, 2}
    assert all(splits.val[i].target.eq(1).any() for i in range(3)), "liver-bearing slices come first"
    assert splits.licences == ()
    # the validation rendering is the phantom's own: identical across builds and to the generated CT
    again = build_datasets(_config(tmp_path, {**data, "slices_per_volume": 3}))
    assert torch.equal(splits.val[2].image, again.val[2].image)
    ct = sitk.GetArrayFromImage(generate_phantom(2, (SIZE[1], SIZE[0], PHANTOM_SLICES)).ct)
    sample = splits.val[2]
    expected = np.clip((ct[sample.slice_index].astype(np.float32) + 100.0) / 500.0, 0.0, 1.0)
    assert np.allclose(sample.image[0].numpy(), expected, atol=1e-6)


def test_a_share_of_training_phantoms_holds_no_liver(tmp_path):
    """data.non_liver_fraction turns that share of the training phantoms (never validation or test) into heads
    and chests with labels 0 everywhere; 0 keeps every phantom abdominal."""
    data = {"kind": "phantom", "size": SIZE, "train_volumes": 8, "val_volumes": 2, "slices_per_volume": 2}
    plain = build_datasets(_config(tmp_path / "plain", data))
    assert {spec.region for spec in plain.train.specs} == {"abdomen"} and "hold no liver" not in plain.description
    mixed = build_datasets(_config(tmp_path / "mixed", {**data, "non_liver_fraction": 0.6}))
    regions = [spec.region for spec in mixed.train.specs]
    assert {"head", "chest"} <= set(regions) and "abdomen" in regions
    assert {spec.region for spec in mixed.val.specs} == {"abdomen"}
    assert f"{8 - regions.count('abdomen')} of the training volumes hold no liver" in mixed.description
    for position, spec in enumerate(mixed.train.specs):
        if spec.region != "abdomen":
            for item in mixed.train.slices_of(spec.volume_id):
                assert not mixed.train[item].target.any()
            assert not mixed.train.volume(position).labels.open().any()
    with pytest.raises(UsageError, match="non_liver_fraction"):
        _config(tmp_path, {**data, "non_liver_fraction": 1.0})


def test_choose_slices_prefers_liver_and_tops_up_with_neighbours():
    has_liver = np.zeros(20, dtype=bool)
    has_liver[8:12] = True
    assert choose_slices(has_liver, 2) == [8, 11]
    chosen = choose_slices(has_liver, 6)
    assert set(range(8, 12)) <= set(chosen) and len(chosen) == 6 and all(6 <= s <= 13 for s in chosen)
    assert choose_slices(has_liver, None) == [8, 9, 10, 11]


def test_randomisation_changes_intensities_but_not_labels(tmp_path):
    data = {"kind": "phantom", "size": SIZE, "train_volumes": 2, "val_volumes": 1, "slices_per_volume": 6}
    randomized = build_datasets(_config(tmp_path, {**data, "augment": NO_AUGMENT, "randomize": True}))
    plain = build_datasets(_config(tmp_path, {**data, "augment": NO_AUGMENT, "randomize": False}))
    draws = [randomized.train[0] for _ in range(3)]
    fixed = [plain.train[0] for _ in range(2)]
    assert torch.equal(fixed[0].image, fixed[1].image), "without randomisation and augmentation nothing changes"
    for draw in draws:
        assert torch.equal(draw.target, fixed[0].target), "randomisation must never touch labels"
        assert not torch.equal(draw.image, fixed[0].image)
    assert not torch.equal(draws[0].image, draws[1].image)
    # and the labels are those of the slice rendered, for every sample
    for seed in (0, 1):
        labels = sitk.GetArrayFromImage(generate_phantom(seed, (SIZE[1], SIZE[0], PHANTOM_SLICES)).labels)
        for item in randomized.train.slices_of(f"phantom-{seed}"):
            sample = randomized.train[item]
            assert np.array_equal(sample.target.numpy(), labels[sample.slice_index])
    # the network cannot rely on the liver's absolute brightness: it varies between renderings
    liver = draws[0].target == 1
    means = [float(d.image[0][liver].mean()) for d in [randomized.train[0] for _ in range(8)]]
    assert max(means) - min(means) > 0.05


def test_a_randomize_fraction_keeps_the_phantoms_own_rendering_for_the_rest(tmp_path):
    data = {"kind": "phantom", "size": SIZE, "train_volumes": 2, "val_volumes": 1, "slices_per_volume": 6}
    mixed = build_datasets(_config(tmp_path, {**data, "augment": NO_AUGMENT, "randomize_fraction": 0.5}))
    plain = build_datasets(_config(tmp_path, {**data, "augment": NO_AUGMENT, "randomize": False}))
    own = plain.train[0].image
    kept = [torch.equal(mixed.train[0].image, own) for _ in range(24)]
    assert 4 <= sum(kept) <= 20, "about half the samples keep the phantom's own rendering, the rest are re-rendered"
    with pytest.raises(UsageError, match="data.randomize_fraction"):
        _config(tmp_path, {**data, "randomize_fraction": 0.0})


def _ellipsoid_shape(path: Path, semi_mm: tuple[float, float, float], spacing: float = 4.0) -> None:
    """A liver-like mask in the layout of the LiTS-derived shapes (y axis stored reversed)."""
    counts = [int(2 * s / spacing) + 6 for s in semi_mm]
    axes = [(np.arange(n) - (n - 1) / 2) * spacing for n in counts[::-1]]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    mask = ((x / semi_mm[0]) ** 2 + (y / semi_mm[1]) ** 2 + (z / semi_mm[2]) ** 2 < 1).astype(np.uint8)
    image = sitk.GetImageFromArray(mask)
    image.SetSpacing((spacing,) * 3)
    image.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    image.SetOrigin((-250.0, 80.0, -600.0))
    sitk.WriteImage(image, str(path))


def _placed_mask(mask: sitk.Image, case) -> np.ndarray:
    """The shape moved by the phantom's recorded translation, on the phantom's grid."""
    shift = sitk.TranslationTransform(3, tuple(-v for v in case.liver_shift_mm))
    return sitk.GetArrayFromImage(sitk.Resample(mask, case.labels, shift, sitk.sitkNearestNeighbor, 0)) > 0


def test_phantom_liver_takes_the_given_shape(tmp_path):
    livers = []
    for name, semi in (("wide", (70.0, 50.0, 45.0)), ("tall", (40.0, 55.0, 75.0))):
        _ellipsoid_shape(tmp_path / f"liver-{name}.nii.gz", semi)
        mask = read_shape(tmp_path / f"liver-{name}.nii.gz")
        case = generate_phantom(3, (64, 64, 40), spacing=(6.0, 6.0, 5.0), liver_mask=mask, num_tumours=1)
        liver = sitk.GetArrayFromImage(case.labels) > 0
        placed = _placed_mask(mask, case)
        inside = (liver & placed).sum()
        assert inside / liver.sum() > 0.97, "the liver lies inside the shape"
        assert inside / placed.sum() > 0.6, "most of the shape becomes liver (cavity and organs clip the rest)"
        assert (sitk.GetArrayFromImage(case.labels) == 2).any(), "tumours are placed inside the shape"
        livers.append(liver)
    assert (livers[0] ^ livers[1]).sum() > 0.3 * livers[0].sum()


def test_a_liver_of_real_size_fits_the_phantom_body_and_lies_under_the_diaphragm(tmp_path):
    """A liver 220 mm wide and 190 mm deep (an adult's) makes the body grow to hold it and lifts the diaphragm
    over it: no part of it turns into lung, and most of it becomes liver (the spine, vessels and back muscles
    clip the rest of an ellipsoid). Drawn at the body's own size and under its own dome, 52-59 % of it was lost."""
    from condswin.ct.phantom_canvas import Tissue

    _ellipsoid_shape(tmp_path / "liver-big.nii.gz", (110.0, 95.0, 85.0))
    mask = read_shape(tmp_path / "liver-big.nii.gz")
    kept = []
    for seed in range(3):
        case = generate_phantom(seed, (80, 80, 48), spacing=(5.0, 5.0, 5.0), liver_mask=mask, num_tumours=0)
        liver = sitk.GetArrayFromImage(case.labels) > 0
        placed = _placed_mask(mask, case)
        lung = (placed & (case.tissue == Tissue.LUNG)).sum() / placed.sum()
        assert lung < 0.005, f"the diaphragm lies over the liver (the shape's share in lung: {lung:.3f})"
        kept.append((liver & placed).sum() / placed.sum())
    assert np.mean(kept) > 0.53, f"shares of the shape that became liver: {kept}"


def test_deformed_shapes_vary_within_bounds(tmp_path):
    _ellipsoid_shape(tmp_path / "liver-000.nii.gz", (60.0, 45.0, 50.0))
    shape = read_shape(tmp_path / "liver-000.nii.gz")
    volume = sitk.GetArrayFromImage(shape).sum()
    variants = [sitk.GetArrayFromImage(deform_shape(shape, np.random.default_rng(s))) for s in range(3)]
    again = sitk.GetArrayFromImage(deform_shape(shape, np.random.default_rng(0)))
    assert np.array_equal(variants[0], again)
    for variant in variants:
        assert set(np.unique(variant).tolist()) == {0, 1}
        assert (0.85 * 0.93) ** 3 * 0.9 < variant.sum() / volume < (1.15 * 1.07) ** 3 * 1.1
    assert not np.array_equal(variants[0], variants[1])


def test_phantom_with_liver_shapes_keeps_shapes_disjoint(tmp_path):
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    for index, semi in enumerate([(60, 45, 50), (70, 50, 45), (55, 50, 60), (65, 40, 55)]):
        _ellipsoid_shape(shapes / f"liver-{index:03d}.nii.gz", tuple(float(s) for s in semi))
    data = {
        "kind": "phantom",
        "size": SIZE,
        "train_volumes": 3,
        "val_volumes": 1,
        "test_volumes": 1,
        "slices_per_volume": 2,
        "liver_shapes": str(shapes),
    }
    splits = build_datasets(_config(tmp_path, data))
    assert splits.licences == (LIVER_SHAPES_LICENCE,)
    assert "real LiTS-derived liver shapes" in splits.description
    used = {name: {spec.liver_shape for spec in getattr(splits, name).specs} for name in ("train", "val", "test")}
    assert len(used["train"]) == 2 and len(used["val"]) == len(used["test"]) == 1
    assert not (used["train"] & used["val"]) and not (used["train"] & used["test"]) and not (used["val"] & used["test"])
    assert all(spec.deform for spec in splits.train.specs) and not any(spec.deform for spec in splits.val.specs)
    sample = splits.train[0]
    assert sample.image.shape == (1, *SIZE)
    assert splits.val.volume(0).liver_shift_mm is not None


def test_real_liver_shape_phantom(shared_data, tmp_path):
    """A phantom whose liver is a real LiTS-derived shape (../shared/data/ct/lits_liver_masks)."""
    source = shared_data / "ct" / "lits_liver_masks"
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    for name in sorted(p.name for p in source.glob("liver-*.nii.gz"))[:3]:
        shutil.copy(source / name, shapes / name)
    mask = read_shape(shapes / sorted(p.name for p in shapes.iterdir())[0])
    case = generate_phantom(7, (96, 96, 40), spacing=(4.0, 4.0, 5.0), liver_mask=mask)
    liver = sitk.GetArrayFromImage(case.labels) > 0
    placed = _placed_mask(mask, case)
    assert liver.sum() > 1000 and (liver & placed).sum() / liver.sum() > 0.97
    centroid = case.labels.TransformContinuousIndexToPhysicalPoint(
        [float(v) for v in np.argwhere(liver).mean(axis=0)[::-1]]
    )
    body_centre = case.labels.TransformContinuousIndexToPhysicalPoint([47.5, 47.5, 19.5])
    assert centroid[0] < body_centre[0], "the liver lies on the patient's right (LPS: smaller x)"
    data = {
        "kind": "phantom",
        "size": [64, 64],
        "train_volumes": 1,
        "val_volumes": 1,
        "slices_per_volume": 2,
        "liver_shapes": str(shapes),
    }
    splits = build_datasets(_config(tmp_path, data))
    assert splits.train[0].target.eq(1).any() or splits.train[1].target.eq(1).any()
    assert splits.val[0].target.eq(1).any()


def test_phantom_every_liver_slice(tmp_path):
    """``slices_per_volume: null`` takes every liver slice, counted when the datasets are built."""
    data = {"kind": "phantom", "size": SIZE, "train_volumes": 1, "val_volumes": 1, "slices_per_volume": None}
    splits = build_datasets(_config(tmp_path, data))
    labels = sitk.GetArrayFromImage(generate_phantom(1, (SIZE[1], SIZE[0], PHANTOM_SLICES)).labels)
    liver_slices = np.flatnonzero(labels.reshape(PHANTOM_SLICES, -1).max(axis=1) > 0).tolist()
    assert [splits.val[i].slice_index for i in range(len(splits.val))] == liver_slices
