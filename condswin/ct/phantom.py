"""Procedural abdominal CT phantom with LiTS labels (0 background, 1 liver, 2 tumour).

A phantom is deterministic from its seed. The seed drives four independent random streams (grid,
anatomy, tumours, noise), so the anatomy of a seed is the same whatever spacing or orientation is asked
for. Anatomy is described in :mod:`condswin.ct.phantom_anatomy`, tumours in
:mod:`condswin.ct.phantom_tumours`. Image formation: the tissue HU map is blurred by a Gaussian point
spread function (in-plane sigma 0.5–0.9 mm, slice profile sigma 0.35 slice), then correlated Gaussian
noise (8–20 HU standard deviation, blurred in-plane so that it has the grain of filtered back-projection
noise) is added, and values are rounded to int16 HU clipped to [-1024, 3071].

Random grid (when ``spacing`` is None): in-plane field of view 360–460 mm (0.7–0.9 mm pixels at 512,
1.4–1.8 mm at 256), slice spacing one of 1–5 mm, as in LiTS; the liver centre lies near the middle slice.

Scans without a liver (``region``): ``chest`` paints the same body but centres the grid 100–160 mm plus half
its extent above the liver centre (lungs, chest wall, spine, great vessels; at most the top of the dome
reaches in); ``head`` paints a head instead (:mod:`condswin.ct.phantom_head`, field of view 220–280 mm) with
labels 0 everywhere. Both teach a liver model what a liver is not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.phantom_anatomy import paint_anatomy
from condswin.ct.phantom_canvas import LIVER_TISSUES, PHASES, Canvas, Tissue
from condswin.ct.phantom_head import HEAD_FIELD_OF_VIEW_MM, paint_head
from condswin.ct.phantom_liver_shape import LiverShape
from condswin.ct.phantom_shapes import PhantomGrid
from condswin.ct.phantom_tumours import TumourSpec, add_tumours
from condswin.errors import OutputExistsError
from condswin.io.images import write_image
from condswin.lits import LIVER, TUMOUR

__all__ = [
    "GEOMETRIES",
    "REGIONS",
    "PhantomCase",
    "generate_phantom",
    "make_phantom",
    "write_lits_case",
    "write_lits_dataset",
]

GEOMETRIES: tuple[str, ...] = ("axial", "flipped", "tilted")
REGIONS: tuple[str, ...] = ("abdomen", "chest", "head")
_SLICE_SPACINGS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
_SLICE_SPACING_P = (0.1, 0.1, 0.1, 0.15, 0.2, 0.15, 0.2)
_MAX_TUMOURS = 20


@dataclass
class PhantomCase:
    """A generated phantom with what went into it.

    Attributes:
        ct: int16 HU image.
        labels: uint8 labels (0 background, 1 liver, 2 tumour) on the same grid.
        tissue: the tissue map (numpy z, y, x; values of :class:`~condswin.ct.phantom_anatomy.Tissue`).
        seed: the seed.
        phase: contrast phase (``native``, ``arterial`` or ``portal``).
        noise_hu: noise standard deviation in HU.
        tumours: the tumours placed.
        tissue_hu: mean HU drawn for each tissue (before noise and blur).
        liver_shift_mm: with a ``liver_mask``, the (x, y, z) translation in mm that moved the mask's physical
            positions onto the phantom's liver (None for a drawn liver).
    """

    ct: sitk.Image
    labels: sitk.Image
    tissue: np.ndarray = field(repr=False)
    seed: int
    phase: str
    noise_hu: float
    tumours: list[TumourSpec]
    tissue_hu: dict[str, float]
    liver_shift_mm: tuple[float, float, float] | None = None

    def info(self) -> dict[str, Any]:
        """JSON-serialisable description (geometry, phase, noise, tumours)."""
        return {
            "seed": self.seed,
            "size": list(self.ct.GetSize()),
            "spacing": list(self.ct.GetSpacing()),
            "origin": list(self.ct.GetOrigin()),
            "direction": list(self.ct.GetDirection()),
            "phase": self.phase,
            "noise_hu": self.noise_hu,
            "tumours": [t.as_dict() for t in self.tumours],
            "tissue_hu": self.tissue_hu,
            "liver_shift_mm": None if self.liver_shift_mm is None else list(self.liver_shift_mm),
        }


def _direction(geometry: str, rng: np.random.Generator) -> np.ndarray:
    # Drawn whatever the geometry, so that the rest of the grid stream (table position, centre) is the same.
    angle = np.deg2rad(rng.uniform(8.0, 20.0) * rng.choice([-1.0, 1.0]))
    if geometry == "axial":
        return np.eye(3)
    if geometry == "flipped":
        # How many NIfTI writers store CT: x and y axes reversed (RAS-ward), z unchanged.
        return np.diag([-1.0, -1.0, 1.0])
    if geometry == "tilted":
        # A gantry tilt / oblique reformat: the slice plane turned about the left-right axis.
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    raise ValueError(f"unknown phantom geometry '{geometry}'; expected one of {GEOMETRIES}")


def _check_arguments(shape: Sequence[int], spacing: Sequence[float] | None, num_tumours: int | None) -> None:
    if len(shape) != 3 or any(int(s) != s or s < 8 for s in shape):
        raise ValueError(f"shape must be three integers >= 8 (x, y, z), got {tuple(shape)}")
    if spacing is not None and (len(spacing) != 3 or not all(float(s) > 0 for s in spacing)):
        raise ValueError(f"spacing must be three positive numbers in mm (x, y, z), got {tuple(spacing)}")
    valid_count = isinstance(num_tumours, (int, np.integer)) and 0 <= num_tumours <= _MAX_TUMOURS
    if num_tumours is not None and not valid_count:
        raise ValueError(f"num_tumours must be an integer from 0 to {_MAX_TUMOURS}, got {num_tumours!r}")


def generate_phantom(
    seed: int,
    shape: Sequence[int] = (256, 256, 48),
    spacing: Sequence[float] | None = None,
    num_tumours: int | None = None,
    *,
    phase: str | None = None,
    geometry: str = "axial",
    noise_hu: float | None = None,
    liver_mask: sitk.Image | None = None,
    region: str = "abdomen",
) -> PhantomCase:
    """Generate a phantom and keep its tissue map and parameters.

    Args:
        seed: non-negative integer; the same arguments give identical images.
        shape: grid size (x, y, z), SimpleITK order.
        spacing: voxel spacing (x, y, z) in mm; random (see module docstring) when None.
        num_tumours: number of tumours; random 0–6 when None.
        phase: contrast phase ``"native"``, ``"arterial"`` or ``"portal"``; random (portal most often)
            when None.
        geometry: ``"axial"`` (identity direction), ``"flipped"`` (x and y reversed) or ``"tilted"``
            (rotated 8–20 degrees about the left-right axis).
        noise_hu: noise standard deviation in HU; random 8–20 when None.
        liver_mask: a 3-D binary image (non-zero = liver, any grid and geometry) whose shape replaces the
            drawn liver: moved rigidly against the right abdominal wall under the diaphragm and sampled onto
            the phantom grid (:mod:`condswin.ct.phantom_liver_shape`); tumours are placed inside it.
        region: ``abdomen``, ``chest`` (above the liver) or ``head`` (see the module docstring); the last two
            take no tumours and no liver mask.

    Returns:
        A :class:`PhantomCase`.

    Raises:
        ValueError: bad arguments, or tumours that do not fit in the visible liver.
    """
    _check_arguments(shape, spacing, num_tumours)
    if phase is not None and phase not in PHASES:
        raise ValueError(f"unknown contrast phase '{phase}'; expected one of {PHASES}")
    if noise_hu is not None and not noise_hu >= 0:
        raise ValueError(f"noise_hu must be >= 0, got {noise_hu}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if region not in REGIONS:
        raise ValueError(f"unknown region '{region}'; expected one of {REGIONS}")
    if region != "abdomen" and (num_tumours or liver_mask is not None):
        raise ValueError(f"a {region} phantom holds no liver: it takes neither tumours nor a liver mask")
    grid_rng, anatomy_rng, tumour_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)
    )
    size = tuple(int(s) for s in shape)
    if spacing is None:
        field_of_view = HEAD_FIELD_OF_VIEW_MM if region == "head" else (360.0, 460.0)
        pixel = grid_rng.uniform(*field_of_view) / max(size[0], size[1])
        spacing = (pixel, pixel, float(grid_rng.choice(_SLICE_SPACINGS, p=_SLICE_SPACING_P)))
    else:
        grid_rng.uniform()  # keep the stream aligned whether or not spacing was given
    direction = _direction(geometry, grid_rng)
    z_ref = grid_rng.uniform(-800.0, -100.0)  # table position: absolute z differs between scans
    extent_z = spacing[2] * size[2]
    centre = (
        grid_rng.uniform(-10.0, 10.0),
        grid_rng.uniform(-5.0, 20.0),
        z_ref + grid_rng.uniform(-1.0, 1.0) * min(0.25 * extent_z, 40.0),
    )
    if region == "chest":
        centre = (centre[0], centre[1], z_ref + 0.5 * extent_z + grid_rng.uniform(100.0, 160.0))
    grid = PhantomGrid.centred(size, spacing, direction, centre, z_ref)

    drawn_phase = str(anatomy_rng.choice(PHASES, p=[0.2, 0.2, 0.6]))  # drawn always: same anatomy either way
    chosen_phase = phase or drawn_phase
    canvas = Canvas(
        grid, anatomy_rng, chosen_phase, liver_shape=None if liver_mask is None else _liver_shape(liver_mask)
    )
    if region == "head":
        paint_head(canvas)
    else:
        paint_anatomy(canvas)
    count = int(tumour_rng.integers(0, 7)) if num_tumours is None else int(num_tumours)
    count = count if region == "abdomen" else 0
    # A requested count must be met (or fail loudly); a random one is an upper bound on tiny grids.
    tumours = add_tumours(canvas, count, tumour_rng, strict=num_tumours is not None)

    noise = float(noise_rng.uniform(8.0, 20.0)) if noise_hu is None else float(noise_hu)
    ct_array = _image_formation(canvas.hu, grid.spacing, noise, noise_rng)
    labels_array = np.zeros(grid.shape, dtype=np.uint8)
    labels_array[np.isin(canvas.tissue, np.array(sorted(LIVER_TISSUES), dtype=np.uint8))] = LIVER
    labels_array[canvas.tissue == Tissue.TUMOUR] = TUMOUR

    ct = _to_image(ct_array, grid)
    labels = _to_image(labels_array, grid)
    shift = canvas.liver_shift_mm
    return PhantomCase(
        ct=ct,
        labels=labels,
        tissue=canvas.tissue,
        seed=int(seed),
        phase=chosen_phase,
        noise_hu=noise,
        tumours=tumours,
        tissue_hu={t.name.lower(): round(v, 1) for t, v in canvas.mean_hu.items()},
        liver_shift_mm=None if shift is None else (float(shift[0]), float(shift[1]), float(shift[2])),
    )


def _liver_shape(image: sitk.Image) -> LiverShape:
    if not isinstance(image, sitk.Image) or image.GetDimension() != 3:
        raise ValueError("liver_mask must be a 3-D SimpleITK image")
    spacing, origin = image.GetSpacing(), image.GetOrigin()
    return LiverShape(
        mask=sitk.GetArrayFromImage(image) != 0,
        spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
    )


def make_phantom(
    seed: int,
    shape: Sequence[int] = (256, 256, 48),
    spacing: Sequence[float] | None = None,
    num_tumours: int | None = None,
    **options: Any,
) -> tuple[sitk.Image, sitk.Image]:
    """Generate an abdominal CT phantom with liver and tumour labels.

    Args:
        seed: non-negative integer; the same arguments give identical images, different seeds differ.
        shape: grid size (x, y, z), SimpleITK order (the default 256×256×48 takes about a second).
        spacing: voxel spacing (x, y, z) in mm; random when None.
        num_tumours: number of tumours; random 0–6 when None.
        **options: ``phase``, ``geometry``, ``noise_hu`` and ``liver_mask`` as in :func:`generate_phantom`.

    Returns:
        ``(ct, labels)``: int16 HU image and uint8 label image (0/1/2) with identical geometry.

    Raises:
        ValueError: bad arguments, or tumours that do not fit in the visible liver.
    """
    case = generate_phantom(seed, shape, spacing, num_tumours, **options)
    return case.ct, case.labels


def _image_formation(hu: np.ndarray, spacing: Sequence[float], noise_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Blur by the scanner's point spread function, add CT-like noise, quantise to int16 HU."""
    psf_mm = rng.uniform(0.5, 0.9)
    sigma = (0.35, psf_mm / spacing[1], psf_mm / spacing[0])  # numpy order z, y, x
    image = ndimage.gaussian_filter(hu, sigma=sigma, mode="nearest")
    if noise_hu > 0:
        grain = rng.standard_normal(hu.shape, dtype=np.float32)
        # Filtered back-projection noise is correlated over about a pixel in-plane, not between slices.
        grain = ndimage.gaussian_filter(grain, sigma=(0.0, 0.7, 0.7), mode="wrap")
        grain *= np.float32(noise_hu / max(float(grain.std()), 1e-6))
        image += grain
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16)


def _to_image(array: np.ndarray, grid: PhantomGrid) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(tuple(float(v) for v in grid.direction.ravel()))
    return image


def write_lits_case(
    out_dir: str | os.PathLike,
    index: int,
    seed: int,
    *,
    overwrite: bool = False,
    **phantom_options: Any,
) -> tuple[Path, Path]:
    """Generate a phantom and write it as ``volume-<index>.nii.gz`` and ``segmentation-<index>.nii.gz``.

    Both files are written atomically; if the second fails the first is removed again, so a failure
    leaves neither.

    Args:
        out_dir: output folder (created if missing).
        index: LiTS case number N (non-negative).
        seed: phantom seed.
        overwrite: replace existing files of that case.
        **phantom_options: ``shape``, ``spacing``, ``num_tumours``, ``phase``, ``geometry``, ``noise_hu``.

    Returns:
        ``(volume_path, segmentation_path)``.

    Raises:
        OutputExistsError: a file of that case exists and ``overwrite`` is false.
        ValueError: bad arguments.
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative integer, got {index!r}")
    out_dir = Path(out_dir)
    volume_path = out_dir / f"volume-{index}.nii.gz"
    label_path = out_dir / f"segmentation-{index}.nii.gz"
    for path in (volume_path, label_path):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path}: already exists; pass overwrite=True to replace it")
    ct, labels = make_phantom(seed, **phantom_options)
    volume_existed = volume_path.exists()
    write_image(ct, volume_path, overwrite=overwrite)
    try:
        write_image(labels, label_path, overwrite=overwrite)
    except BaseException:
        if not volume_existed:
            volume_path.unlink(missing_ok=True)
        raise
    return volume_path, label_path


def write_lits_dataset(
    out_dir: str | os.PathLike,
    count: int,
    *,
    seed: int = 0,
    first_index: int = 0,
    overwrite: bool = False,
    **phantom_options: Any,
) -> list[tuple[Path, Path]]:
    """Write ``count`` phantom cases in LiTS layout; case ``first_index + i`` uses seed ``seed + i``.

    Args:
        out_dir: output folder.
        count: number of cases.
        seed: seed of the first case.
        first_index: LiTS number of the first case.
        overwrite: replace existing files.
        **phantom_options: passed to :func:`write_lits_case`.

    Returns:
        ``(volume_path, segmentation_path)`` of each case.
    """
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    return [
        write_lits_case(out_dir, first_index + i, seed + i, overwrite=overwrite, **phantom_options)
        for i in range(count)
    ]
