"""Geometry primitives for the procedural CT phantom: a voxel grid in patient space and smooth shapes.

Everything is defined in patient coordinates (LPS, mm: +x patient left, +y posterior, +z superior) and
evaluated on the voxel grid through its spacing, origin and direction, so a tilted or flipped grid samples
the same anatomy. Local objects are evaluated only inside an index box around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "PhantomGrid", "ellipsoid_q", "rotation_z", "random_rotation", "smooth_field", "segment_distance"]

Box = tuple[slice, slice, slice]
"""Index box in numpy (z, y, x) order."""


@dataclass
class PhantomGrid:
    """Voxel grid and its patient coordinates (float32 arrays in numpy z, y, x order).

    Attributes:
        size: (nx, ny, nz), SimpleITK order.
        spacing: (sx, sy, sz) in mm.
        origin: physical position of voxel (0, 0, 0) in mm.
        direction: 3×3 direction cosine matrix (columns are the x, y, z index axes).
        z_ref: patient z of the anatomical reference level (the liver centre); ``z`` below is relative to it.
        x, y, z: coordinates of every voxel (z relative to ``z_ref``), float32 arrays broadcastable to
            ``shape`` (an axis that does not change a coordinate has length 1).
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    z_ref: float
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    @classmethod
    def centred(
        cls,
        size: Sequence[int],
        spacing: Sequence[float],
        direction: np.ndarray,
        centre: Sequence[float],
        z_ref: float,
    ) -> PhantomGrid:
        """A grid whose centre voxel lies at ``centre`` (patient mm).

        Args:
            size: (nx, ny, nz).
            spacing: (sx, sy, sz) in mm.
            direction: 3×3 orthonormal matrix.
            centre: physical position of the grid centre.
            z_ref: patient z of the anatomical reference level.

        Returns:
            The grid with its coordinate arrays.
        """
        size_arr = np.asarray(size, dtype=np.float64)
        spacing_arr = np.asarray(spacing, dtype=np.float64)
        axes = direction * spacing_arr[None, :]  # column c: the step in mm of one voxel along index axis c
        origin = np.asarray(centre, dtype=np.float64) - axes @ ((size_arr - 1.0) / 2.0)
        i = np.arange(size[0], dtype=np.float32)[None, None, :]
        j = np.arange(size[1], dtype=np.float32)[None, :, None]
        k = np.arange(size[2], dtype=np.float32)[:, None, None]
        axes32 = axes.astype(np.float32)
        coords = []
        for row in range(3):
            # Only index axes that move this coordinate contribute, so for an axial grid x and y are
            # (1, ny, nx)-broadcastable planes and z a column: slice-invariant structures cost one slice.
            value = np.full((1, 1, 1), origin[row] - (z_ref if row == 2 else 0.0), dtype=np.float32)
            for column, index in enumerate((i, j, k)):
                if abs(axes[row, column]) > 1e-9:
                    value = value + axes32[row, column] * index
            coords.append(value)
        return cls(
            size=(int(size[0]), int(size[1]), int(size[2])),
            spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
            origin=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=np.asarray(direction, dtype=np.float64),
            z_ref=float(z_ref),
            x=coords[0],
            y=coords[1],
            z=coords[2],
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Numpy shape (nz, ny, nx)."""
        return self.size[2], self.size[1], self.size[0]

    def box(self, centre: Sequence[float] | np.ndarray, radius: float) -> Box | None:
        """Index box holding a ball of ``radius`` mm around ``centre`` (z relative to ``z_ref``).

        Args:
            centre: (x, y, z) in patient mm, z relative to the reference level.
            radius: ball radius in mm.

        Returns:
            Slices in numpy order, or ``None`` when the ball misses the grid.
        """
        point = np.asarray(centre, dtype=np.float64) + np.array([0.0, 0.0, self.z_ref])
        index = self.direction.T @ (point - np.asarray(self.origin)) / np.asarray(self.spacing)
        half = radius / np.asarray(self.spacing)
        lo = np.floor(index - half).astype(int)
        hi = np.ceil(index + half).astype(int) + 1
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, self.size)
        if np.any(hi <= lo):
            return None
        return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])

    def coords(self, box: Box | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinate arrays (x, y, z-relative) of a box, or of the whole grid (broadcastable shapes)."""
        if box is None:
            return self.x, self.y, self.z
        return self.crop(self.x, box), self.crop(self.y, box), self.crop(self.z, box)

    @staticmethod
    def crop(array: np.ndarray, box: Box | None) -> np.ndarray:
        """The part of a grid-shaped or broadcastable array inside a box (length-1 axes stay whole)."""
        if box is None:
            return array
        return array[tuple(slice(None) if n == 1 else s for n, s in zip(array.shape, box, strict=False))]

    def points(self, flat_indices: np.ndarray) -> np.ndarray:
        """Patient positions (n, 3: x, y, z relative to ``z_ref``) of voxels given as flat numpy indices."""
        k, j, i = np.unravel_index(flat_indices, self.shape)
        ijk = np.stack([i, j, k], axis=1).astype(np.float64) * np.asarray(self.spacing)
        return ijk @ self.direction.T + np.asarray(self.origin) - np.array([0.0, 0.0, self.z_ref])

    def voxel_at(self, position: Sequence[float]) -> tuple[int, int, int] | None:
        """Numpy index (k, j, i) of the voxel nearest to a position (z relative), or None outside the grid."""
        point = np.asarray(position, dtype=np.float64) + np.array([0.0, 0.0, self.z_ref])
        index = np.rint(self.direction.T @ (point - np.asarray(self.origin)) / np.asarray(self.spacing)).astype(int)
        if np.any(index < 0) or np.any(index >= np.asarray(self.size)):
            return None
        return int(index[2]), int(index[1]), int(index[0])

    def point(self, index: Sequence[int]) -> np.ndarray:
        """Patient position (x, y, z relative to ``z_ref``) of a voxel given in numpy (k, j, i) order."""
        ijk = np.array([index[2], index[1], index[0]], dtype=np.float64)
        position = np.asarray(self.origin) + self.direction @ (ijk * np.asarray(self.spacing))
        return position - np.array([0.0, 0.0, self.z_ref])


def rotation_z(angle: float) -> np.ndarray:
    """Rotation matrix about the patient z axis (an in-plane turn of an axial slice)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation (QR of a Gaussian matrix with the sign fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))[None, :]
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def ellipsoid_q(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: Sequence[float] | np.ndarray,
    semi_axes: Sequence[float] | np.ndarray,
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """Normalised squared radius of an ellipsoid: < 1 inside, 1 on the surface.

    Args:
        x: patient x coordinates (any shape; y and z the same shape).
        y: patient y coordinates.
        z: patient z coordinates.
        centre: ellipsoid centre.
        semi_axes: semi-axis lengths in mm along the ellipsoid's own axes.
        rotation: 3×3 matrix whose columns are the ellipsoid axes in patient space (identity if None).

    Returns:
        float32 array of the coordinates' shape.
    """
    dx, dy, dz = x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2])
    if rotation is None:
        u, v, w = dx, dy, dz
    else:
        rot = np.asarray(rotation, dtype=np.float32)
        u = rot[0, 0] * dx + rot[1, 0] * dy + rot[2, 0] * dz
        v = rot[0, 1] * dx + rot[1, 1] * dy + rot[2, 1] * dz
        w = rot[0, 2] * dx + rot[1, 2] * dy + rot[2, 2] * dz
    a, b, c = (np.float32(1.0 / s) for s in semi_axes)
    return (u * a) ** 2 + (v * b) ** 2 + (w * c) ** 2


def smooth_field(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    wavelength: float,
    terms: int = 6,
) -> np.ndarray:
    """A smooth random field of roughly unit standard deviation: a sum of random plane waves.

    Plane waves in patient coordinates (rather than filtered voxel noise) make the field independent of
    the grid: the same seed gives the same anatomy at any spacing or orientation.

    Args:
        rng: random generator (advanced by this call).
        x: patient x coordinates.
        y: patient y coordinates.
        z: patient z coordinates.
        wavelength: typical wavelength in mm (each wave gets 0.7–1.4 times it).
        terms: number of plane waves.

    Returns:
        float32 array of the coordinates' shape.
    """
    field = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
    for _ in range(terms):
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        k = (2.0 * np.pi / (wavelength * rng.uniform(0.7, 1.4))) * direction
        phase = rng.uniform(0.0, 2.0 * np.pi)
        field += np.cos(np.float32(k[0]) * x + np.float32(k[1]) * y + np.float32(k[2]) * z + np.float32(phase))
    field *= np.float32(np.sqrt(2.0 / terms))
    return field


def segment_distance(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    start: Sequence[float] | np.ndarray,
    end: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Distance in mm from every coordinate to the line segment ``start``–``end``.

    Args:
        x: patient x coordinates.
        y: patient y coordinates.
        z: patient z coordinates.
        start: segment start (patient mm).
        end: segment end (patient mm).

    Returns:
        float32 array of the coordinates' shape.
    """
    p0 = np.asarray(start, dtype=np.float64)
    axis = np.asarray(end, dtype=np.float64) - p0
    length2 = float(axis @ axis) or 1e-12
    dx, dy, dz = x - np.float32(p0[0]), y - np.float32(p0[1]), z - np.float32(p0[2])
    t = (dx * np.float32(axis[0]) + dy * np.float32(axis[1]) + dz * np.float32(axis[2])) / np.float32(length2)
    np.clip(t, 0.0, 1.0, out=t)
    ex = dx - t * np.float32(axis[0])
    ey = dy - t * np.float32(axis[1])
    ez = dz - t * np.float32(axis[2])
    return np.sqrt(ex * ex + ey * ey + ez * ez)
