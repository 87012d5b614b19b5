"""A real liver shape for the phantom: a binary mask placed in the phantom's abdomen instead of the drawn liver.

The mask keeps its own voxel grid and geometry (any spacing and direction, e.g. the 1.5 mm LiTS-derived
masks); it is moved rigidly — no rotation or scaling here, a caller that wants variety deforms the mask
first — so that its patient-right edge lies against the right abdominal wall, its top under the right
diaphragm dome and its centroid at the body's front-back centre, and is then sampled onto the phantom grid
(linear interpolation of the mask, threshold 0.5). The painter clips it to the abdominal cavity, the
diaphragm and the spine like the drawn liver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from condswin.ct.phantom_shapes import PhantomGrid

__all__ = ["LiverShape", "place_liver_shape"]


@dataclass(frozen=True)
class LiverShape:
    """A liver mask with its geometry.

    Attributes:
        mask: boolean array in numpy (k, j, i) order.
        spacing: (x, y, z) voxel size in mm.
        origin: (x, y, z) position of voxel (0, 0, 0) in LPS mm.
        direction: 3×3 direction cosines (column c is index axis c in LPS).
    """

    mask: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray

    def __post_init__(self) -> None:
        if self.mask.ndim != 3 or not self.mask.any():
            raise ValueError(f"a liver shape must be a non-empty 3-D mask, got shape {self.mask.shape}")

    def points(self) -> np.ndarray:
        """LPS positions (n, 3) of the mask's voxels."""
        kji = np.argwhere(self.mask)
        ijk = kji[:, ::-1].astype(np.float64) * np.asarray(self.spacing)
        return ijk @ np.asarray(self.direction).T + np.asarray(self.origin)


def place_liver_shape(
    shape: LiverShape, grid: PhantomGrid, right_edge_x: float, top_z: float, centre_y: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move a liver shape to its place in the phantom and sample it on the phantom's grid.

    Args:
        shape: the liver mask.
        grid: the phantom grid (patient coordinates, z relative to ``grid.z_ref``).
        right_edge_x: patient x (mm) the shape's right-most voxel goes to (patient right is -x in LPS).
        top_z: z (mm, relative to ``z_ref``) of the shape's highest voxel.
        centre_y: y (mm) of the shape's centroid.

    Returns:
        ``(mask, shift)``: a boolean array of the grid's shape, and the (x, y, z) translation in mm that takes
        the mask's LPS positions to the phantom's (z absolute, i.e. including ``z_ref``).
    """
    points = shape.points()
    shift = np.array(
        [right_edge_x - points[:, 0].min(), centre_y - points[:, 1].mean(), top_z - points[:, 2].max()],
    )
    placed = np.zeros(grid.shape, dtype=bool)
    low, high = points.min(axis=0) + shift, points.max(axis=0) + shift
    box = grid.box((low + high) / 2.0, float(np.linalg.norm(high - low)) / 2.0 + max(shape.spacing))
    if box is None:
        return placed, shift + np.array([0.0, 0.0, grid.z_ref])
    x, y, z = (np.broadcast_to(c, placed[box].shape) for c in grid.coords(box))
    # Phantom position → the mask's continuous voxel index (inverse of the shape's index-to-LPS map).
    relative = np.stack([x - shift[0], y - shift[1], z - shift[2]], axis=-1) - np.asarray(shape.origin)
    ijk = relative @ np.asarray(shape.direction) / np.asarray(shape.spacing)
    coordinates = [ijk[..., 2], ijk[..., 1], ijk[..., 0]]
    values = ndimage.map_coordinates(shape.mask.astype(np.float32), coordinates, order=1, mode="constant", cval=0.0)
    placed[box] = values > 0.5
    return placed, shift + np.array([0.0, 0.0, grid.z_ref])
