"""Which 2-D slices a model sees: the slicing axis and in-plane orientation, as numpy views of a volume.

A model trained on axial slices should see axial slices in the same orientation whatever the file's index
order: LiTS NIfTI files, for example, come with x and/or y reversed. For the anatomical axes the slices are
therefore reoriented (by transposes and flips only — views, no resampling) to the radiological display
convention in LPS, the patient coordinate system of DICOM and SimpleITK:

* ``axial``: rows run anterior → posterior, columns patient right → left;
* ``coronal``: rows run superior → inferior, columns right → left;
* ``sagittal``: rows run superior → inferior, columns anterior → posterior.

``slice`` takes the image's own third index axis with rows and columns as stored (MR series, fastMRI).
Because every step is a view, the model's outputs are written straight back through the same view into an
array in the input's index order, so the result has exactly the input's geometry.

Every job needs slices of at least :data:`MIN_SLICE_SIZE` pixels a side (:func:`check_slice_size`): a
smaller image holds no anatomy to segment, no background to estimate noise from, and too few k-space
columns to undersample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from condswin.errors import InputError

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["MIN_SLICE_SIZE", "SliceLayout", "check_image_slices", "check_slice_size"]

# The smallest slice side every job takes (segmentation, reconstruction and denoising alike): enough for the
# 7x7 SSIM window, the denoisers' neighbourhoods and a column mask with a fully sampled centre.
MIN_SLICE_SIZE = 16

# (slice axis, (row axis, wanted sign), (column axis, wanted sign)) in LPS physical axes 0=x, 1=y, 2=z.
_ANATOMICAL = {
    "axial": (2, (1, +1.0), (0, +1.0)),
    "coronal": (1, (2, -1.0), (0, +1.0)),
    "sagittal": (0, (2, -1.0), (1, +1.0)),
}


def check_slice_size(rows: int, columns: int, source: str | None = None) -> None:
    """Refuse slices smaller than :data:`MIN_SLICE_SIZE` pixels a side.

    Args:
        rows, columns: the in-plane size of the slices a job would process.
        source: the file they come from, named first in the message (None: the caller names it).

    Raises:
        InputError: a side is smaller than the minimum.
    """
    if min(rows, columns) < MIN_SLICE_SIZE:
        where = f"{source}: " if source else ""
        raise InputError(
            f"{where}slices of {rows}×{columns} pixels are too small; every job needs at least "
            f"{MIN_SLICE_SIZE}×{MIN_SLICE_SIZE} pixels"
        )


def check_image_slices(image: sitk.Image, axis: str) -> None:
    """:func:`check_slice_size` for the slices of a 3-D image along ``axis`` (other images are left to the
    job's own checks, which refuse them)."""
    if image.GetDimension() != 3:
        return
    _, rows, columns = SliceLayout.from_image(image, axis).slice_shape(image.GetSize()[::-1])
    check_slice_size(rows, columns)


@dataclass(frozen=True)
class SliceLayout:
    """How to cut a SimpleITK-ordered numpy volume (k, j, i) into model slices (n, rows, columns).

    Attributes:
        axes: numpy axes of the volume that become (slice, row, column).
        flip_rows: reverse the row axis.
        flip_columns: reverse the column axis.
        spacing: (row, column) pixel size in mm of the slices.
    """

    axes: tuple[int, int, int]
    flip_rows: bool
    flip_columns: bool
    spacing: tuple[float, float]

    @classmethod
    def from_geometry(cls, spacing: Sequence[float], direction: Sequence[float], axis: str) -> SliceLayout:
        """Layout for an image with SimpleITK ``spacing`` (x, y, z) and row-major 3×3 ``direction``.

        Args:
            spacing: the image's ``GetSpacing()``.
            direction: the image's ``GetDirection()`` (9 numbers; column c is index axis c in LPS).
            axis: ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"slice"``.

        Returns:
            The layout. Raises ``ValueError`` for a non-3-D geometry or an unknown axis.
        """
        if len(spacing) != 3 or len(direction) != 9:
            raise ValueError(f"slice layout needs a 3-D image, got spacing {tuple(spacing)}")
        if axis == "slice":
            return cls(
                axes=(0, 1, 2), flip_rows=False, flip_columns=False, spacing=(float(spacing[1]), float(spacing[0]))
            )
        if axis not in _ANATOMICAL:
            raise ValueError(f"unknown slicing axis {axis!r}; expected axial, coronal, sagittal or slice")
        matrix = np.asarray(direction, dtype=float).reshape(3, 3)
        slice_phys, (row_phys, row_sign), (col_phys, col_sign) = _ANATOMICAL[axis]
        free = [0, 1, 2]
        # Greedy: the index axis most aligned with each physical axis, slice axis first (it matters most).
        slice_index = max(free, key=lambda c: abs(matrix[slice_phys, c]))
        free.remove(slice_index)
        col_index = max(free, key=lambda c: abs(matrix[col_phys, c]))
        free.remove(col_index)
        row_index = free[0]
        return cls(
            axes=(2 - slice_index, 2 - row_index, 2 - col_index),  # SimpleITK index c is numpy axis 2 - c
            flip_rows=bool(np.sign(matrix[row_phys, row_index]) * row_sign < 0),
            flip_columns=bool(np.sign(matrix[col_phys, col_index]) * col_sign < 0),
            spacing=(float(spacing[row_index]), float(spacing[col_index])),
        )

    @classmethod
    def from_image(cls, image: sitk.Image, axis: str) -> SliceLayout:
        """Layout for a SimpleITK image (see :meth:`from_geometry`)."""
        return cls.from_geometry(image.GetSpacing(), image.GetDirection(), axis)

    def slices(self, volume: np.ndarray) -> np.ndarray:
        """A (n, rows, columns) view of a (k, j, i) volume; writing into it writes into the volume."""
        if volume.ndim != 3:
            raise ValueError(f"expected a 3-D volume, got shape {volume.shape}")
        view = np.transpose(volume, self.axes)
        if self.flip_rows:
            view = view[:, ::-1, :]
        if self.flip_columns:
            view = view[:, :, ::-1]
        return view

    def slice_shape(self, volume_shape: Sequence[int]) -> tuple[int, int, int]:
        """(n, rows, columns) of the slices of a volume of ``volume_shape``."""
        return tuple(int(volume_shape[a]) for a in self.axes)  # type: ignore[return-value]
