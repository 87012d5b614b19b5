"""Piecewise-smooth MR test objects: the flat regions and sharp edges that brain volumes have too few of.

A reconstruction network trained only on brains learns that an image is full of fine texture, and on a
physical phantom (a cylinder of doped water with inserts) it paints that texture into the flat fluid, where
total-variation compressed sensing keeps it flat. These objects teach the opposite: each slice is a large
rounded body (ellipse or rounded rectangle, 55–90 % of the field of view) of one signal level, holding 3–12
inserts (ellipses, rounded rectangles, thin bars) of their own levels, some of them nested; each region is
flat apart from a slow shading of up to ±8 % (coil sensitivity), edges are blurred by 0.4–1.0 px (the
scanner's point spread), and the air around the body is exactly zero. Values lie in [0, 1].

Slices of one volume share the body and its inserts (as a phantom does along its axis), with sizes
changing by a few per cent from slice to slice, so per-volume normalisation sees a coherent object.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["piecewise_smooth_volume"]

_BODY_FRACTION = (0.55, 0.9)
_INSERTS = (3, 12)
_INSERT_FRACTION = (0.04, 0.3)
_SHADING = 0.08
_BLUR_PX = (0.4, 1.0)
_SLICE_WOBBLE = 0.03


def _superellipse(rows: np.ndarray, cols: np.ndarray, half: np.ndarray, power: float) -> np.ndarray:
    """Inside a superellipse: power 2 is an ellipse, larger powers square the corners off."""
    return (np.abs(rows) / half[0]) ** power + (np.abs(cols) / half[1]) ** power <= 1.0


def _shape_mask(grid: np.ndarray, centre: np.ndarray, half: np.ndarray, angle: float, power: float) -> np.ndarray:
    rows, cols = grid[0] - centre[0], grid[1] - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    return _superellipse(cos * rows + sin * cols, -sin * rows + cos * cols, half, power)


def _shading(rng: np.random.Generator, grid: np.ndarray, size: int) -> np.ndarray:
    """A slow multiplicative field 1 ± up to 8 %: a tilted plane plus one broad bump."""
    tilt = rng.uniform(-1.0, 1.0, 2) * _SHADING / size
    centre = rng.uniform(0.2, 0.8, 2) * size
    bump = np.exp(-((grid[0] - centre[0]) ** 2 + (grid[1] - centre[1]) ** 2) / (2.0 * (0.4 * size) ** 2))
    field = tilt[0] * (grid[0] - size / 2) + tilt[1] * (grid[1] - size / 2) + rng.uniform(-1, 1) * _SHADING * bump
    return (1.0 + np.clip(field, -_SHADING, _SHADING)).astype(np.float32)


def piecewise_smooth_volume(seed: int, shape: tuple[int, int, int] = (16, 256, 256)) -> np.ndarray:
    """One piecewise-smooth object (see the module docstring).

    Args:
        seed: the object's seed (the same seed gives the same volume).
        shape: (slices, rows, columns); rows and columns at least 32.

    Returns:
        float32 (slices, rows, columns), values in [0, 1], zero outside the body.

    Raises:
        ValueError: a shape that is not three positive sizes with rows and columns of at least 32.
    """
    if len(shape) != 3 or shape[0] < 1 or min(shape[1:]) < 32:
        raise ValueError(
            f"piecewise_smooth_volume: shape must be (slices >= 1, rows >= 32, columns >= 32), got {shape}"
        )
    rng = np.random.default_rng(seed)
    slices, height, width = (int(s) for s in shape)
    size = min(height, width)
    grid = np.mgrid[:height, :width].astype(np.float32)
    centre = np.array([height / 2, width / 2]) + rng.uniform(-0.05, 0.05, 2) * size
    body_half = rng.uniform(*_BODY_FRACTION, 2) * size / 2
    body = (float(rng.uniform(0.0, np.pi)), float(rng.choice([2.0, 2.0, 4.0, 8.0])), rng.uniform(0.3, 0.9))
    inserts = []
    for _ in range(int(rng.integers(_INSERTS[0], _INSERTS[1] + 1))):
        half = rng.uniform(*_INSERT_FRACTION, 2) * body_half.min()
        if rng.uniform() < 0.2:  # a thin bar, as a resolution insert
            half = np.array([half[0], max(1.0, 0.15 * half[1])])
        radius = max(0.0, body_half.min() - half.max()) * np.sqrt(rng.uniform())
        direction = rng.uniform(0.0, 2.0 * np.pi)
        offset = radius * np.array([np.sin(direction), np.cos(direction)])
        inserts.append(
            (offset, half, float(rng.uniform(0.0, np.pi)), float(rng.choice([2.0, 2.0, 3.0, 6.0])), rng.uniform(0, 1))
        )
    blur = rng.uniform(*_BLUR_PX)
    volume = np.zeros((slices, height, width), dtype=np.float32)
    for k in range(slices):
        wobble = 1.0 + rng.uniform(-_SLICE_WOBBLE, _SLICE_WOBBLE)
        image = np.zeros((height, width), dtype=np.float32)
        inside = _shape_mask(grid, centre, body_half * wobble, body[0], body[1])
        image[inside] = body[2]
        for offset, half, angle, power, level in inserts:
            insert = _shape_mask(grid, centre + offset * wobble, half * wobble, angle, power) & inside
            image[insert] = level
        image *= _shading(rng, grid, size)
        image = ndimage.gaussian_filter(image, sigma=blur)
        image[~ndimage.binary_dilation(inside, iterations=2)] = 0.0
        volume[k] = image
    peak = float(volume.max())
    return np.clip(volume / peak, 0.0, 1.0) if peak > 0 else volume
