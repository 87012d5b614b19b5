"""condswin.ct.windowing: HU windows map linearly onto [0, 1] and clip outside."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condswin.ct.windowing import HU_WINDOWS, window_bounds, window_hu


def test_soft_tissue_window_values() -> None:
    hu = np.array([-1000, -160, -60, 40, 140, 240, 3000], dtype=np.int16)
    out = window_hu(hu, level=40, width=400)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0], atol=1e-7)
    np.testing.assert_array_equal(out, window_hu(hu, low=-160, high=240))
    np.testing.assert_array_equal(out, window_hu(hu, preset="soft_tissue"))


def test_input_is_not_modified_and_shape_kept() -> None:
    hu = np.arange(-500, 500, dtype=np.int16).reshape(10, 10, 10)
    copy = hu.copy()
    out = window_hu(hu, low=-100, high=200)
    np.testing.assert_array_equal(hu, copy)
    assert out.shape == hu.shape


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(-1024, 3071), min_size=1, max_size=50),
    st.floats(-500, 500),
    st.floats(1, 2000),
)
def test_window_is_monotone_and_bounded(values: list[int], level: float, width: float) -> None:
    hu = np.sort(np.array(values, dtype=np.int16))
    out = window_hu(hu, level=level, width=width)
    assert np.all((out >= 0) & (out <= 1))
    assert np.all(np.diff(out) >= 0)
    inside = (hu > level - width / 2) & (hu < level + width / 2)
    np.testing.assert_allclose(out[inside], (hu[inside] - (level - width / 2)) / width, rtol=1e-5, atol=1e-6)


def test_bad_windows_and_nan_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        window_hu(np.zeros(3), level=40, width=400, low=0, high=1)
    with pytest.raises(ValueError, match="exactly one"):
        window_hu(np.zeros(3))
    with pytest.raises(ValueError, match="width must be > 0"):
        window_hu(np.zeros(3), level=40, width=0)
    with pytest.raises(ValueError, match="greater than low"):
        window_hu(np.zeros(3), low=10, high=10)
    with pytest.raises(ValueError, match="together"):
        window_bounds(level=40)
    with pytest.raises(ValueError, match="unknown HU window preset"):
        window_hu(np.zeros(3), preset="brain")
    with pytest.raises(ValueError, match="NaN"):
        window_hu(np.array([0.0, np.nan]), level=40, width=400)


def test_presets_are_valid_windows() -> None:
    for name, (level, width) in HU_WINDOWS.items():
        assert window_bounds(preset=name) == (level - width / 2, level + width / 2)
