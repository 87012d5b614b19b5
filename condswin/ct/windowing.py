"""Hounsfield-unit windowing: map a HU range linearly onto [0, 1] for display and network input."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["HU_WINDOWS", "window_bounds", "window_hu"]

# (level, width) pairs as radiology workstations name them; soft tissue W400/L40 is the usual abdominal view.
HU_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "abdomen": (60.0, 400.0),
    "liver": (80.0, 150.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
}


def window_bounds(
    *,
    level: float | None = None,
    width: float | None = None,
    low: float | None = None,
    high: float | None = None,
    preset: str | None = None,
) -> tuple[float, float]:
    """Resolve one window description to its (low, high) HU bounds.

    Args:
        level: window centre in HU (with ``width``).
        width: window width in HU (with ``level``), > 0.
        low: lowest HU shown (with ``high``).
        high: highest HU shown (with ``low``), > ``low``.
        preset: a name from :data:`HU_WINDOWS` instead of numbers.

    Returns:
        ``(low, high)`` in HU.

    Raises:
        ValueError: not exactly one description given, or an empty window.
    """
    given = [
        name
        for name, present in (
            ("level/width", level is not None or width is not None),
            ("low/high", low is not None or high is not None),
            ("preset", preset is not None),
        )
        if present
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of level/width, low/high or preset (got {given or 'none'})")
    if preset is not None:
        if preset not in HU_WINDOWS:
            raise ValueError(f"unknown HU window preset '{preset}'; known: {', '.join(HU_WINDOWS)}")
        level, width = HU_WINDOWS[preset]
    if level is not None or width is not None:
        if level is None or width is None:
            raise ValueError("level and width must be given together")
        if not width > 0:
            raise ValueError(f"window width must be > 0, got {width}")
        return float(level) - float(width) / 2.0, float(level) + float(width) / 2.0
    if low is None or high is None:
        raise ValueError("low and high must be given together")
    if not high > low:
        raise ValueError(f"window high ({high}) must be greater than low ({low})")
    return float(low), float(high)


def window_hu(
    array: npt.ArrayLike,
    *,
    level: float | None = None,
    width: float | None = None,
    low: float | None = None,
    high: float | None = None,
    preset: str | None = None,
) -> np.ndarray:
    """Clip HU values to a window and scale them linearly to [0, 1].

    Args:
        array: HU values of any shape (not modified).
        level: window centre in HU (with ``width``).
        width: window width in HU (with ``level``).
        low: lowest HU shown (with ``high``).
        high: highest HU shown (with ``low``).
        preset: a name from :data:`HU_WINDOWS` instead of numbers.

    Returns:
        float32 array of the same shape: ``low`` and below map to 0, ``high`` and above to 1.

    Raises:
        ValueError: a bad window (see :func:`window_bounds`) or NaN in the input.
    """
    lo, hi = window_bounds(level=level, width=width, low=low, high=high, preset=preset)
    values = np.asarray(array)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"window_hu needs a numeric array, got dtype {values.dtype}")
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError("window_hu input contains NaN values")
    # Work on a float copy (int16 HU minus a window bound must not wrap around); float32 holds every int16
    # exactly and halves the memory of a float64 copy of a 512x512x800 volume. In-place steps keep it at one copy.
    work_dtype = np.float64 if values.dtype == np.float64 else np.float32
    scaled = values.astype(work_dtype, copy=True)
    scaled -= lo
    scaled /= hi - lo
    np.clip(scaled, 0.0, 1.0, out=scaled)
    return scaled.astype(np.float32, copy=False)
