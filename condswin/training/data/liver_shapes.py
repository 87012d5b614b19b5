"""Real liver shapes for phantom livers: find and check a folder of masks, and deform one per phantom.

The shapes (``liver-NNN.nii[.gz]``, binary masks such as ``../shared/data/ct/lits_liver_masks``: LiTS reference
livers cropped and resampled to 1.5 mm) are few, so each phantom gets its own variant (:func:`deform_shape`):

* mirrored front-to-back with probability 1/2 — a left-right mirror would put the right lobe against the
  spleen and stomach on the patient's left, an anatomy the phantom's other organs and real scans never show;
* scaled by a common factor in [0.85, 1.15] times a per-axis factor in [0.93, 1.07];
* turned about the head-foot axis by up to ±10°;
* elastically deformed by a smooth random displacement (random plane waves, ~70 mm wavelength, up to 8 mm).

The mask is padded first so that growth is not clipped, and resampled with linear interpolation of the mask
(threshold 0.5) on its own grid; :func:`condswin.ct.phantom.generate_phantom` then places it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from condswin.errors import InputError, InputNotFoundError
from condswin.io.images import read_image
from condswin.training.data.store import VolumeCache

__all__ = ["LICENCE", "find_liver_shapes", "check_liver_shapes", "deform_shape", "read_shape"]

LICENCE = "LiTS-derived liver shapes: CC BY-NC-SA 4.0 (non-commercial, share-alike)"

_NAME = re.compile(r"^liver-\d+\.nii(\.gz)?$")
_PAD_MM = 24.0
_SCALE = (0.85, 1.15)
_AXIS_SCALE = (0.93, 1.07)
_MAX_TURN_DEG = 10.0
_WAVELENGTH_MM = 70.0
_MAX_DISPLACEMENT_MM = 8.0
_WAVES = 4


def find_liver_shapes(folder: str | Path, source: str) -> list[Path]:
    """The ``liver-NNN.nii[.gz]`` files of a folder, sorted by name.

    Raises:
        InputNotFoundError: the folder does not exist.
        InputError: it holds no liver shapes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such folder of liver shapes (data.liver_shapes of {source})")
    paths = sorted(p for p in folder.iterdir() if _NAME.match(p.name) and p.is_file())
    if not paths:
        raise InputError(f"{folder}: no liver shapes (liver-NNN.nii or liver-NNN.nii.gz binary masks)")
    return paths


def read_shape(path: str | Path) -> sitk.Image:
    """Read a liver shape as a uint8 0/1 mask (errors name the file)."""
    image = read_image(path, ndim=3)
    return sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)


def check_liver_shapes(paths: list[Path], cache: VolumeCache) -> None:
    """Check that every shape is a readable, non-empty 3-D mask of 0/1 (a result is cached per unchanged file).

    Raises:
        InputError: naming the first file that is not.
    """
    for path in paths:
        key = VolumeCache.file_key(path, "liver-shape-1")
        if cache.info(path.name.split(".")[0], key) is not None:
            continue
        image = read_image(path, ndim=3)  # ImageFileError (an InputError) for unreadable or non-3-D files
        values = np.unique(sitk.GetArrayViewFromImage(image))
        if not set(values.tolist()) <= {0, 1}:
            raise InputError(f"{path}: a liver shape must hold only 0 and 1, found {values[:10].tolist()}")
        if values.max(initial=0) != 1:
            raise InputError(f"{path}: the liver shape is empty (no voxel is 1)")
        cache.put_info(
            path.name.split(".")[0], key, {"size": list(image.GetSize()), "spacing": list(image.GetSpacing())}
        )


def _wave_field(rng: np.random.Generator, steps: np.ndarray, offset: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A smooth random field (about unit amplitude) over a voxel grid: a sum of random plane waves in LPS mm.

    A plane wave of the position p = steps · (i, j, k) + offset is a product of one complex exponential per
    index axis, so each wave costs one outer product instead of a cosine per voxel.

    Args:
        rng: the generator.
        steps: 3×3 matrix, column c the LPS step (mm) of index axis c.
        offset: LPS position (mm) of voxel (0, 0, 0).
        shape: the grid's numpy shape (k, j, i).
    """
    field = np.zeros(shape, dtype=np.float32)
    for _ in range(_WAVES):
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        k = 2.0 * np.pi / (_WAVELENGTH_MM * rng.uniform(0.7, 1.4)) * direction
        per_index = k @ steps  # phase advance per voxel along i, j, k
        phase = float(k @ offset) + rng.uniform(0, 2 * np.pi)
        along_i = np.exp(1j * per_index[0] * np.arange(shape[2])).astype(np.complex64)
        along_j = np.exp(1j * per_index[1] * np.arange(shape[1])).astype(np.complex64)
        along_k = (np.exp(1j * (per_index[2] * np.arange(shape[0]) + phase))).astype(np.complex64)
        field += (along_k[:, None, None] * along_j[None, :, None] * along_i[None, None, :]).real
    return field / np.float32(np.sqrt(_WAVES / 2.0))


def deform_shape(shape: sitk.Image, rng: np.random.Generator) -> sitk.Image:
    """A random variant of a liver shape (see the module docstring) on a padded copy of its grid.

    Args:
        shape: a 0/1 mask (:func:`read_shape`).
        rng: the generator that decides the variant.

    Returns:
        A uint8 0/1 mask with the shape's spacing and direction (origin moved by the padding).
    """
    spacing = np.asarray(shape.GetSpacing(), dtype=np.float64)
    direction = np.asarray(shape.GetDirection(), dtype=np.float64).reshape(3, 3)
    pad = np.ceil(_PAD_MM / spacing).astype(int)  # (x, y, z) voxels
    mask = np.pad(sitk.GetArrayFromImage(shape).astype(np.float32), [(p, p) for p in pad[::-1]])
    origin = np.asarray(shape.GetOrigin()) - direction @ (pad * spacing)

    # Positions relative to the shape's centroid (LPS mm) are p = steps · (i, j, k) + offset.
    centroid_index = np.array(ndimage.center_of_mass(mask))[::-1]  # (i, j, k)
    centre = origin + direction @ (centroid_index * spacing)
    steps = direction * spacing[None, :]
    offset = origin - centre

    # Output position p takes the value of the source at  A^-1 (p - u(p)):  u the elastic displacement,
    # A = turn · scale · mirror (all about the centroid).
    amplitude = rng.uniform(0.0, _MAX_DISPLACEMENT_MM)
    displacement = [np.float32(amplitude) * _wave_field(rng, steps, offset, mask.shape) for _ in range(3)]
    scale = rng.uniform(*_SCALE) * rng.uniform(*_AXIS_SCALE, size=3)
    mirror = np.diag([1.0, -1.0 if rng.uniform() < 0.5 else 1.0, 1.0])
    turn = np.deg2rad(rng.uniform(-_MAX_TURN_DEG, _MAX_TURN_DEG))
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0.0], [np.sin(turn), np.cos(turn), 0.0], [0.0, 0.0, 1.0]])
    # Source position q (relative to the centroid) → continuous (i, j, k) index: D^T (q + centre - origin) / s.
    to_index = direction.T @ np.linalg.inv(rotation @ np.diag(scale) @ mirror) / spacing[:, None]
    linear = to_index @ steps  # index of A^-1 p as a linear map of the output index ...
    constant = to_index @ offset + direction.T @ (centre - origin) / spacing  # ... plus this
    axes = [np.arange(n, dtype=np.float32) for n in mask.shape[::-1]]  # i, j, k
    grids = [axes[0][None, None, :], axes[1][None, :, None], axes[2][:, None, None]]
    index = []
    for a in range(3):
        value = sum(np.float32(linear[a, c]) * grids[c] for c in range(3)) + np.float32(constant[a])
        value = value - sum(np.float32(to_index[a, b]) * displacement[b] for b in range(3))
        index.append(value)
    values = ndimage.map_coordinates(mask, [index[2], index[1], index[0]], order=1, mode="constant", cval=0.0)
    out = sitk.GetImageFromArray((values > 0.5).astype(np.uint8))
    out.SetSpacing(tuple(float(s) for s in spacing))
    out.SetDirection(tuple(float(v) for v in direction.ravel()))
    out.SetOrigin(tuple(float(v) for v in origin))
    return out
