"""Training data pipeline: bad input fails before training (naming the file), and the shared machinery
(memory-mapped volumes and their cache, worker processes, augmentation, splits, the engine's resize)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from torch.utils.data import DataLoader

from condswin.ct.phantom import write_lits_case
from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.inference.engine import _resize as engine_resize
from condswin.mri.fastmri import write
from condswin.training.config import AugmentSection, config_from_dict
from condswin.training.data import build_datasets
from condswin.training.data import ct_folders as ct_folders_module
from condswin.training.data.prepare import Geometric, IntensityJitter, crop_or_pad, crop_window, resize_like_inference
from condswin.training.data.samples import phantom_seeds, split_volumes
from condswin.training.data.store import ProcessLocal, VolumeCache, nifti_source


def _config(tmp: Path, task: str, data: dict):
    return config_from_dict({"task": task, "data": data, "trainer": {"output_dir": str(tmp / "run")}})


def _lits(root: Path, count: int = 3) -> Path:
    for index in range(count):
        write_lits_case(root, index, seed=index, shape=(32, 32, 8), spacing=(11.0, 11.0, 15.0))
    return root


def _seg(tmp: Path, root: Path, **data):
    return build_datasets(_config(tmp, "segmentation", {"kind": "lits", "root": str(root), "val_volumes": 1, **data}))


# --- bad input: a clear error naming the file or key, before any training step ---------------------------


def test_missing_folders_are_named(tmp_path):
    missing = tmp_path / "nowhere"
    cases = [
        ("segmentation", {"kind": "lits", "root": str(missing)}),
        ("reconstruction", {"kind": "fastmri", "root": str(missing)}),
        ("reconstruction", {"kind": "mr_volumes", "root": str(missing)}),
        ("denoising", {"kind": "mr_volumes", "root": str(missing)}),
        ("segmentation", {"kind": "phantom", "liver_shapes": str(missing)}),
    ]
    for task, data in cases:
        with pytest.raises(InputNotFoundError, match=str(missing)):
            build_datasets(_config(tmp_path, task, data))


def test_a_data_kind_the_task_does_not_read_is_refused(tmp_path):
    """build_datasets checks the (task, kind) pair itself: a config made without load_config's checks."""
    config = _config(tmp_path, "segmentation", {"kind": "phantom"})
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, kind="fastmri"))
    with pytest.raises(
        UsageError, match="data.kind: a segmentation run reads one of phantom, lits, decathlon, got 'fastmri'"
    ):
        build_datasets(config)


def test_folder_without_image_label_pairs(tmp_path):
    root = _lits(tmp_path / "lits", 2)
    for label in root.glob("segmentation-*"):
        label.unlink()
    with pytest.raises(InputError, match="no image/label pairs"):
        _seg(tmp_path, root)
    with pytest.raises(InputError, match="no LiTS"):
        _seg(tmp_path, _mkdir(tmp_path / "empty"))


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_mismatched_grid_names_the_label_file(tmp_path):
    root = _lits(tmp_path / "lits")
    label_path = root / "segmentation-1.nii.gz"
    labels = sitk.ReadImage(str(label_path))
    labels.SetSpacing((10.0, 11.0, 15.0))
    sitk.WriteImage(labels, str(label_path))
    with pytest.raises(InputError, match="segmentation-1.nii.gz.*not on the grid"):
        _seg(tmp_path, root)


def test_labels_outside_0_1_2_name_the_file(tmp_path):
    root = _lits(tmp_path / "lits")
    label_path = root / "segmentation-2.nii.gz"
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path)))
    labels[0, 0, 0] = 3
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(sitk.ReadImage(str(label_path)))
    sitk.WriteImage(image, str(label_path))
    with pytest.raises(InputError, match="segmentation-2.nii.gz.*unexpected label values \\[3\\]"):
        _seg(tmp_path, root)


def test_layout_that_is_not_the_configured_kind(tmp_path):
    root = _lits(tmp_path / "lits", 2)
    with pytest.raises(UsageError, match="decathlon"):
        build_datasets(_config(tmp_path, "segmentation", {"kind": "decathlon", "root": str(root)}))


def test_too_many_held_out_volumes(tmp_path):
    root = _lits(tmp_path / "lits", 2)
    with pytest.raises(UsageError, match="data.val_volumes"):
        _seg(tmp_path, root, val_volumes=2)
    with pytest.raises(UsageError, match="slices_per_volume"):
        build_datasets(_config(tmp_path, "segmentation", {"kind": "phantom", "slices_per_volume": 100}))


def _h5(path: Path, target: bool = True, mask: bool = False, coils: bool = False) -> Path:
    shape = (2, 3, 16, 16) if coils else (2, 16, 16)
    kspace = (np.ones(shape) + 1j * np.ones(shape)).astype(np.complex64)
    write(path, kspace, np.ones((2, 16, 16), np.float32) if target else None, np.ones(16, bool) if mask else None)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no_target", "no target"),
        ("mask", "already undersampled"),
        ("multicoil", "multi-coil"),
        ("garbage", "not a readable"),
    ],
)
def test_bad_fastmri_files_are_named(tmp_path, kind, message):
    root = tmp_path / "fastmri"
    root.mkdir()
    _h5(root / "file1.h5")
    _h5(root / "file2.h5")
    bad = root / "file3.h5"
    if kind == "garbage":
        bad.write_bytes(b"not an hdf5 file")
    else:
        _h5(bad, target=kind != "no_target", mask=kind == "mask", coils=kind == "multicoil")
    with pytest.raises(InputError, match=f"file3.h5.*{message}"):
        build_datasets(_config(tmp_path, "reconstruction", {"kind": "fastmri", "root": str(root), "val_volumes": 1}))


def test_fastmri_folder_without_files(tmp_path):
    with pytest.raises(InputError, match="no fastMRI .h5 files"):
        build_datasets(_config(tmp_path, "reconstruction", {"kind": "fastmri", "root": str(_mkdir(tmp_path / "f"))}))


def test_bad_mr_volumes_are_named(tmp_path):
    root = _mkdir(tmp_path / "mr")
    with pytest.raises(InputError, match="no MR volumes"):
        build_datasets(_config(tmp_path, "denoising", {"kind": "mr_volumes", "root": str(root)}))
    good = np.ones((3, 16, 16), np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(good), str(root / "a.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(good - 2.0), str(root / "b.nii.gz"))
    with pytest.raises(InputError, match="b.nii.gz.*negative"):
        build_datasets(_config(tmp_path, "denoising", {"kind": "mr_volumes", "root": str(root), "val_volumes": 1}))
    sitk.WriteImage(sitk.GetImageFromArray(good * 0), str(root / "b.nii.gz"))
    with pytest.raises(InputError, match="b.nii.gz.*all zero"):
        build_datasets(_config(tmp_path, "reconstruction", {"kind": "mr_volumes", "root": str(root), "val_volumes": 1}))


def test_bad_liver_shapes_are_named(tmp_path):
    shapes = _mkdir(tmp_path / "shapes")
    data = {"kind": "phantom", "liver_shapes": str(shapes), "val_volumes": 1}
    with pytest.raises(InputError, match="no liver shapes"):
        build_datasets(_config(tmp_path, "segmentation", data))
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[2:6, 2:6, 2:6] = 1
    for index in range(3):
        sitk.WriteImage(
            sitk.GetImageFromArray(mask * (3 if index == 1 else 1)), str(shapes / f"liver-{index:03d}.nii.gz")
        )
    with pytest.raises(InputError, match="liver-001.nii.gz.*only 0 and 1"):
        build_datasets(_config(tmp_path, "segmentation", data))
    (shapes / "liver-001.nii.gz").unlink()
    with pytest.raises(InputError, match="2 liver shapes; disjoint splits need at least 3"):
        build_datasets(_config(tmp_path, "segmentation", {**data, "test_volumes": 1}))


# --- volumes on disk and the cache ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_uncompressed_nifti_is_mapped_in_place_with_the_voxels_simpleitk_reads(tmp_path, dtype):
    array = (np.arange(4 * 5 * 6).reshape(4, 5, 6) - 40).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    path = tmp_path / "volume.nii"
    sitk.WriteImage(image, str(path), useCompression=False)
    source = nifti_source(path)
    assert source is not None and source.path == str(path)
    assert np.array_equal(source.values(source.open()[2]), sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[2])
    assert nifti_source(tmp_path / "missing.nii") is None
    sitk.WriteImage(image, str(tmp_path / "volume.nii.gz"))
    assert nifti_source(tmp_path / "volume.nii.gz") is None  # compressed: goes to the cache instead


def test_checks_are_cached_and_redone_for_a_changed_file(tmp_path, monkeypatch):
    root = _lits(tmp_path / "lits")
    _seg(tmp_path, root)
    calls = []
    original = ct_folders_module.load_case
    monkeypatch.setattr(ct_folders_module, "load_case", lambda case: calls.append(case) or original(case))
    again = _seg(tmp_path, root)
    assert calls == [], "unchanged files are not read again"
    assert len(again.train) > 0
    label = root / "segmentation-0.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(label)), str(label))  # rewritten: a new modification time
    _seg(tmp_path, root)
    assert [Path(c.volume_path).name for c in calls] == ["volume-0.nii.gz"]


def test_cache_keys_separate_entries(tmp_path):
    cache = VolumeCache(tmp_path / "cache")
    source = cache.put_array("v", "key-1", "image", np.arange(6, dtype=np.int16).reshape(1, 2, 3))
    assert np.array_equal(source.open()[0], [[0, 1, 2], [3, 4, 5]])
    assert cache.array("v", "key-2", "image") is None
    cache.put_info("v", "key-1", {"a": 1})
    assert cache.info("v", "key-1") == {"a": 1} and cache.info("v", "key-2") is None


def test_process_local_cache_forgets_its_values_when_pickled():
    local: ProcessLocal[list] = ProcessLocal(capacity=2)
    local.get("a", lambda: [1])
    local.get("b", lambda: [2])
    local.get("c", lambda: [3])
    assert len(local) == 2  # least recently used dropped
    clone = pickle.loads(pickle.dumps(local))
    assert len(clone) == 0


def _made_in_child(local: ProcessLocal, queue) -> None:
    made = []
    local.get("handle", lambda: made.append(1) or "child's own")
    queue.put(len(made))


def test_process_local_cache_is_not_inherited_by_a_forked_worker():
    import multiprocessing

    context = multiprocessing.get_context("fork")
    local: ProcessLocal[str] = ProcessLocal(capacity=4)
    local.get("handle", lambda: "parent's handle")
    queue = context.Queue()
    child = context.Process(target=_made_in_child, args=(local, queue))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) == 1, "a forked worker must open its own handle, not reuse the parent's"


def test_datasets_work_in_worker_processes(tmp_path):
    """Memory maps and h5py files are opened in each worker; nothing open travels with the dataset."""
    root = _lits(tmp_path / "lits")
    splits = _seg(tmp_path, root, size=[32, 32])
    splits.train[0]  # opens memory maps in this process first: workers must not reuse them
    assert len(pickle.dumps(splits.train)) < 100_000
    batches = list(DataLoader(splits.train, batch_size=4, num_workers=2, shuffle=True))
    assert sum(b.image.shape[0] for b in batches) == len(splits.train)
    assert batches[0].image.shape[1:] == (1, 32, 32) and batches[0].target.dtype == torch.int64
    fastmri = _mkdir(tmp_path / "fastmri")
    for name in ("file1.h5", "file2.h5", "file3.h5"):
        _h5(fastmri / name)
    recon = build_datasets(
        _config(
            tmp_path, "reconstruction", {"kind": "fastmri", "root": str(fastmri), "val_volumes": 1, "size": [16, 16]}
        )
    )
    recon.train[0]  # opens the h5 files in this process before the workers fork
    batches = list(DataLoader(recon.train, batch_size=2, num_workers=2))
    assert sum(b.image.shape[0] for b in batches) == len(recon.train)


# --- augmentation, splits, grid ---------------------------------------------------------------------------


def test_geometric_augmentation_moves_image_and_labels_together():
    labels = np.zeros((24, 24), np.int64)
    labels[4:10, 6:18] = 1
    labels[6:8, 8:10] = 2
    image = labels.astype(np.float32) / 2.0
    flip = Geometric(flip_rows=True, flip_columns=False, angle_deg=0.0, zoom=1.0)
    assert np.array_equal(flip.apply(labels, labels=True), labels[::-1])
    turn = Geometric(flip_rows=False, flip_columns=True, angle_deg=9.0, zoom=1.1)
    moved_labels, moved_image = turn.apply(labels, labels=True), turn.apply(image)
    assert set(np.unique(moved_labels).tolist()) <= {0, 1, 2}
    agree = np.isclose(moved_image, moved_labels / 2.0, atol=0.26)
    assert agree.mean() > 0.95
    complex_image = image + 1j * image
    assert np.allclose(turn.apply(complex_image).imag, moved_image, atol=1e-5)
    rng = np.random.default_rng(0)
    assert Geometric.draw(AugmentSection(probability=0.0), rng) is None


def test_intensity_jitter_keeps_the_mapping_to_original_units():
    jitter = IntensityJitter(gain=1.08, bias=-0.05)
    x = np.linspace(0, 1, 5, dtype=np.float32)
    scale, offset = jitter.rescale(200.0, 10.0)
    assert np.allclose(jitter.apply(x) * scale + offset, x * 200.0 + 10.0, atol=1e-4)


def test_whole_volume_split_and_phantom_seeds():
    items = [f"v{i}" for i in range(10)]
    train, val, test = split_volumes(items, 3, 2, seed=5)
    assert len(train) == 5 and len(val) == 3 and len(test) == 2
    assert sorted(train + val + test) == sorted(items)
    assert split_volumes(items, 3, 2, seed=5) == (train, val, test)
    seeds = phantom_seeds(2, 4, 2, 1)
    flat = [s for group in seeds for s in group]
    assert len(set(flat)) == 7 and not set(seeds[0]) & set(phantom_seeds(3, 4, 2, 1)[0])


def test_resize_and_crop_match_the_engine():
    x = torch.rand(1, 1, 40, 36)
    for size in ((32, 32), (48, 40), (40, 36)):
        assert torch.equal(resize_like_inference(x, size), engine_resize(x, size))
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    centre = crop_or_pad(image, (2, 7), crop_window(image.shape, (2, 7), None))
    assert np.array_equal(centre[:, 1:6], image[1:3]) and not centre[:, 0].any() and not centre[:, 6].any()
