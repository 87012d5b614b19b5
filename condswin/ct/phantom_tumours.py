"""Liver tumours for the CT phantom: separate lobulated lesions of varied size, density and margin.

Kinds (relative to the surrounding liver, as they appear in the portal venous phase):

* ``hypodense``: metastasis-like, 10–60 HU darker (real metastases are often only 15–40 HU darker);
* ``hyperdense``: hypervascular (HCC-like), 20–60 HU brighter (10–25 HU in an unenhanced scan);
* ``rim``: a dark necrotic core with an enhancing rim 2–4 mm thick;
* ``cyst``: water density (0–20 HU) with a sharp margin.

Sizes run from 5 to 100 mm across (log-uniform radius). About a third of the tumours are subcapsular:
their centre lies within half a radius of the liver surface, and they bulge out of a drawn liver into the
fat next to it, as large real lesions do (a real liver shape keeps its own outline). Every tumour is labelled tumour, touches the liver and is one connected
component; tumours are kept apart so that the number of components equals the number requested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from condswin.ct.phantom_canvas import LIVER_TISSUES, Canvas, Tissue
from condswin.ct.phantom_shapes import ellipsoid_q, random_rotation, smooth_field

__all__ = ["TumourSpec", "add_tumours"]

_KINDS = ("hypodense", "hyperdense", "rim", "cyst")
_KIND_P = (0.45, 0.25, 0.2, 0.1)
_MIN_VOXELS = 8
_RADIUS_MM = (2.5, 50.0)
_SUBCAPSULAR_P = 0.35
# A bulging tumour may push into these (never into muscle, bone, vessels or other organs).
_DISPLACEABLE = frozenset({Tissue.VISCERAL_FAT, Tissue.BOWEL_WALL, Tissue.BOWEL_FLUID, Tissue.BOWEL_GAS})


@dataclass(frozen=True)
class TumourSpec:
    """One phantom tumour (centre in patient mm, z absolute; sizes in mm; contrast in HU vs the liver)."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    kind: str
    contrast_hu: float
    voxels: int
    subcapsular: bool = False

    def as_dict(self) -> dict:
        """Plain-Python (JSON-serialisable) form."""
        return asdict(self)


def add_tumours(canvas: Canvas, count: int, rng: np.random.Generator, *, strict: bool = True) -> list[TumourSpec]:
    """Place ``count`` separate tumours in the painted liver.

    Args:
        canvas: a canvas whose anatomy (liver included) is painted.
        count: number of tumours (0 adds none).
        rng: random generator for positions, sizes and appearance.
        strict: raise when fewer than ``count`` fit; otherwise return the ones that fit.

    Returns:
        The tumours added.

    Raises:
        ValueError: with ``strict``, the visible liver is too small to hold ``count`` separate tumours.
    """
    if count == 0:
        return []
    grid = canvas.grid
    liver_codes = np.array(sorted(LIVER_TISSUES), dtype=np.uint8)
    liver_index = np.flatnonzero(np.isin(canvas.tissue, liver_codes))
    if liver_index.size == 0:
        if not strict:
            return []
        raise ValueError(f"cannot place {count} tumours: no liver is visible in this field of view")
    # Centres are drawn in patient space (uniform in the liver's bounding box, kept if they fall in the
    # liver), not by voxel index, so a flipped or tilted grid of the same seed gets the same tumours.
    liver_points = grid.points(liver_index)
    low, high = liver_points.min(axis=0), liver_points.max(axis=0)
    gap = 2.0 * max(grid.spacing)
    placed: list[tuple[np.ndarray, float]] = []
    tumours: list[TumourSpec] = []
    scale = 1.0
    for attempt in range(3000):
        if len(tumours) == count:
            break
        if attempt and attempt % 300 == 0:
            scale *= 0.75  # crowded or thin liver slab: try smaller lesions
        radius = scale * float(np.exp(rng.uniform(*np.log(_RADIUS_MM))))
        radius = max(radius, 1.5 * max(grid.spacing[:2]))
        centre = low + rng.random(3) * (high - low)
        subcapsular = bool(rng.uniform() < _SUBCAPSULAR_P)
        voxel = grid.voxel_at(centre)
        if voxel is None or canvas.tissue[voxel] not in liver_codes:
            continue
        if subcapsular and not _near_surface(canvas, centre, 0.5 * radius, liver_codes):
            continue
        reach = 1.4 * radius  # semi-axes up to 1.25 r, lobulation up to ~1.1
        if any(np.linalg.norm(centre - c) < reach + r + gap for c, r in placed):
            continue
        # A real liver shape (LiTS masks merge liver and tumour) already has its lesions' bulges in its outline.
        spec = _paint_tumour(
            canvas,
            rng,
            centre,
            radius,
            reach,
            subcapsular=subcapsular,
            bulge=subcapsular and canvas.liver_shape is None,
        )
        if spec is not None:
            placed.append((centre, reach))
            tumours.append(spec)
    if strict and len(tumours) < count:
        raise ValueError(
            f"could place only {len(tumours)} of {count} separate tumours in the visible liver "
            f"({liver_index.size} voxels); use a larger field of view or fewer tumours"
        )
    return tumours


def _near_surface(canvas: Canvas, centre: np.ndarray, distance: float, liver_codes: np.ndarray) -> bool:
    """True when a point ``distance`` mm from ``centre`` along one of the six axis directions is not liver."""
    for axis in range(3):
        for sign in (-1.0, 1.0):
            probe = centre.copy()
            probe[axis] += sign * distance
            voxel = canvas.grid.voxel_at(probe)
            if voxel is not None and canvas.tissue[voxel] not in liver_codes:
                return True
    return False


def _paint_tumour(
    canvas: Canvas,
    rng: np.random.Generator,
    centre: np.ndarray,
    radius: float,
    reach: float,
    *,
    subcapsular: bool,
    bulge: bool,
) -> TumourSpec | None:
    grid = canvas.grid
    box = grid.box(centre, reach + 1.0)
    if box is None:
        return None
    x, y, z = grid.coords(box)
    semi = radius * rng.uniform(0.75, 1.25, 3)
    q = ellipsoid_q(x, y, z, centre, semi, random_rotation(rng))
    # Lobulated outline: the squared radius is scaled by at most ±20 % by a smooth field.
    q = q / (1.0 + np.float32(0.2) * np.tanh(smooth_field(rng, x, y, z, 1.6 * radius, terms=5)))
    liver = np.isin(canvas.tissue[box], np.array(sorted(LIVER_TISSUES), dtype=np.uint8))
    room = liver | np.isin(canvas.tissue[box], np.array(sorted(_DISPLACEABLE), dtype=np.uint8)) if bulge else liver
    inside = (q < 1.0) & room
    components, n = ndimage.label(inside, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return None
    # The piece with the most liver in it: a bulging tumour grows out of the liver, not beside it.
    in_liver = np.bincount(components[liver].ravel(), minlength=n + 1)
    in_liver[0] = 0
    if in_liver.max() == 0:
        return None
    inside = components == int(np.argmax(in_liver))
    voxels = int(np.count_nonzero(inside))
    if voxels < _MIN_VOXELS:
        return None

    kind = str(rng.choice(_KINDS, p=_KIND_P))
    liver_hu = canvas.mean_hu[Tissue.LIVER]
    native = canvas.phase == "native"
    edge_mm = 0.4 if kind == "cyst" else rng.uniform(0.8, 3.0)
    if kind == "hypodense":
        contrast = -rng.uniform(8.0, 35.0) if native else -rng.uniform(10.0, 60.0)
    elif kind == "hyperdense":
        contrast = rng.uniform(10.0, 25.0) if native else rng.uniform(20.0, 60.0)
    elif kind == "rim":
        contrast = -rng.uniform(30.0, 70.0)
    else:
        contrast = rng.uniform(0.0, 20.0) - liver_hu
    depth = (1.0 - np.sqrt(np.minimum(q, 1.0))) * np.float32(min(semi))  # mm inside the outline
    weight = np.clip(0.5 + depth / np.float32(edge_mm), 0.0, 1.0)
    base = np.where(canvas.tissue[box] == Tissue.LIVER, canvas.hu[box], np.float32(liver_hu))
    texture = 0.0 if kind == "cyst" else np.float32(rng.uniform(3.0, 8.0)) * smooth_field(rng, x, y, z, 8.0)
    values = base + weight * (np.float32(contrast) + texture)
    if kind == "rim":
        rim = rng.uniform(2.0, 4.0)
        rim_hu = base + np.float32(rng.uniform(15.0, 45.0) * (0.5 if native else 1.0))
        values = np.where(depth < rim, rim_hu, values)
    canvas.paint(inside, Tissue.TUMOUR, box=box, hu=values.astype(np.float32))
    return TumourSpec(
        centre_mm=(float(centre[0]), float(centre[1]), float(centre[2] + grid.z_ref)),
        semi_axes_mm=(float(semi[0]), float(semi[1]), float(semi[2])),
        kind=kind,
        contrast_hu=float(contrast),
        voxels=voxels,
        subcapsular=subcapsular,
    )
