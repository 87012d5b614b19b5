"""Piecewise-smooth MR objects: flat regions, sharp edges, zero air; and as extra reconstruction training volumes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from condswin.errors import UsageError
from condswin.mri.piecewise_phantom import piecewise_smooth_volume
from condswin.training.config import config_from_dict
from condswin.training.data import build_datasets


def test_an_object_is_flat_inside_with_sharp_edges_and_zero_air():
    flat_shares = []
    for seed in range(8):
        volume = piecewise_smooth_volume(seed, (3, 128, 128))
        assert volume.dtype == np.float32 and volume.shape == (3, 128, 128)
        assert volume.min() >= 0.0 and volume.max() == pytest.approx(1.0)
        image = volume[1]
        assert image[0, 0] == 0.0 and image[-1, -1] == 0.0  # air at the corners
        assert np.hypot(*np.gradient(image)).max() > 0.1  # edges step by a large share of the range
        body = image > 0.02
        # flat regions: a 5x5 median leaves almost every body pixel as it is (edges and shading included)
        flat_shares.append(np.mean(np.abs(image - ndimage.median_filter(image, 5))[body] < 0.01))
    assert np.mean(flat_shares) > 0.92


def test_the_same_seed_gives_the_same_object_and_another_seed_another():
    assert np.array_equal(piecewise_smooth_volume(3, (2, 64, 64)), piecewise_smooth_volume(3, (2, 64, 64)))
    assert not np.array_equal(piecewise_smooth_volume(3, (2, 64, 64)), piecewise_smooth_volume(4, (2, 64, 64)))


def test_a_grid_too_small_is_refused():
    with pytest.raises(ValueError, match="rows >= 32"):
        piecewise_smooth_volume(0, (2, 16, 64))


def _config(tmp, root, **data):
    base = {"kind": "mr_volumes", "root": str(root), "val_volumes": 1, "size": [32, 32], "workers": 0}
    return config_from_dict(
        {"task": "reconstruction", "data": {**base, **data}, "trainer": {"output_dir": str(tmp / "run")}}
    )


def _mr_folder(tmp):
    root = tmp / "mr"
    root.mkdir()
    for index in range(2):
        volume = np.zeros((4, 40, 40), dtype=np.float32)
        volume[:, 8:32, 8:32] = 100.0 + index
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(root / f"subject{index}.nii.gz"))
    return root


def test_generated_objects_join_the_training_volumes_only(tmp_path):
    root = _mr_folder(tmp_path)
    plain = build_datasets(_config(tmp_path, root))
    mixed = build_datasets(_config(tmp_path, root, synthetic_volumes=2))
    train_ids = {v.volume_id for v in mixed.train.volumes}
    assert len(mixed.train.volumes) == len(plain.train.volumes) + 2
    assert sum(name.startswith("piecewise-1-s0-") for name in train_ids) == 2
    assert [v.volume_id for v in mixed.val.volumes] == [v.volume_id for v in plain.val.volumes]
    assert "2 generated piecewise-smooth objects" in mixed.description
    files = sorted((tmp_path / "run" / "data_cache" / "synthetic").iterdir())
    assert [f.name for f in files] == ["piecewise-1-s0-000.nii.gz", "piecewise-1-s0-001.nii.gz"]
    stamp = files[0].stat().st_mtime_ns
    build_datasets(_config(tmp_path, root, synthetic_volumes=2))
    assert files[0].stat().st_mtime_ns == stamp  # made once, then reused


@pytest.mark.parametrize("value", [-1, 1001])
def test_a_bad_count_is_refused(tmp_path, value):
    with pytest.raises(UsageError, match="data.synthetic_volumes"):
        _config(tmp_path, tmp_path, synthetic_volumes=value)


def test_only_mr_volume_runs_take_generated_objects(tmp_path):
    with pytest.raises(UsageError, match="only data.kind mr_volumes"):
        config_from_dict({"task": "segmentation", "data": {"kind": "phantom", "synthetic_volumes": 2}})
