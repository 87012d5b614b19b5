"""bench/denoise_error_regions.py: the regions it splits a slice into, its table, and its skip without data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from denoise_error_regions import REGIONS, main, region_masks, rms_percent, table


def test_regions_split_the_tissue_by_gradient_and_leave_air_alone() -> None:
    """A bright disc on air, brightening quadratically: air below 2 % of the maximum; the tissue's flattest half, next 40 %
    and steepest 10 % by gradient, disjoint and covering it; the steepest tenth lies on the disc's rim."""
    yy, xx = np.mgrid[:64, :64]
    radius = np.hypot(yy - 32, xx - 32)
    slice_ = np.where(radius < 24, 100.0 + 0.02 * xx**2, 0.0).astype(np.float32)  # the gradient grows with x
    masks = region_masks(slice_[None])
    tissue = slice_[None] >= 0.02 * slice_.max()
    assert np.array_equal(masks["air"], ~tissue)
    parts = [masks[name] for name in REGIONS[1:]]
    assert np.array_equal(sum(p.astype(int) for p in parts), tissue.astype(int)), "disjoint and covering the tissue"
    shares = [p.sum() / tissue.sum() for p in parts]
    assert abs(shares[0] - 0.5) < 0.05 and abs(shares[1] - 0.4) < 0.05 and abs(shares[2] - 0.1) < 0.05
    assert radius[masks["edges"][0]].min() > 20, "the steepest tenth is the rim, not the ramp"


def test_rms_is_in_percent_of_the_maximum_and_the_table_has_a_row_per_setting() -> None:
    clean = np.zeros((1, 4, 4), dtype=np.float32)
    clean[0, 0, 0] = 200.0
    off = clean + 2.0
    assert rms_percent(off, clean, np.ones_like(clean, dtype=bool), 200.0) == 1.0
    row = {
        "volume": "v",
        "sigma": 0.025,
        "regions": {name: [3.0, 2.0, 1.0] for name in REGIONS},
        "bias": [-0.5, -0.25],
        "psnr": [35.0, 38.0],
    }
    text = table([row, {**row, "sigma": 0.05}])
    assert text.count("\n") == 4 and "| v | 2.5% | 3.00 / 2.00 / 1.00 |" in text and "-0.50 / -0.25" in text


def test_it_skips_without_the_shared_data(tmp_path: Path, capsys) -> None:
    assert main(["--shared", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().out
