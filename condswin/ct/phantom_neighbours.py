"""The liver's neighbours that real contrast CT shows at liver-like density, for the CT phantom.

On real portal-venous CT a segmentation model trained on the simpler phantom called the pancreas, the
duodenum and collapsed bowel in front of the spine (90–110 HU), the back muscles (60–70 HU, marbled with
fat) and the spleen liver. This module paints those neighbours with realistic shapes and places, so that
the phantom shows a model what liver is *not*:

* the **pancreas** (pushing the drawn liver's medial-inferior edge aside): a lobulated band from the head in the duodenal C-loop (right of the midline, at the
  level of the kidneys' upper halves) across the front of the aorta to the tail at the splenic hilum;
* the **duodenum**: a C-loop of enhancing bowel wall around the pancreatic head, often collapsed;
* the **back muscles**: erector spinae and quadratus lumborum of adult size, with streaks of intramuscular
  fat.

Everything is painted inside the abdominal cavity (or, for the back muscles, over fat behind the spine
only), so every tissue stays inside the body. Positions are in patient mm (LPS: +x left, +y posterior),
z relative to the liver centre, sized from adult abdominal CT.
"""

from __future__ import annotations

import numpy as np

from condswin.ct.phantom_canvas import BodyFrame, Canvas, Tissue
from condswin.ct.phantom_shapes import ellipsoid_q, segment_distance, smooth_field

__all__ = ["paint_back_muscles", "paint_pancreas_and_duodenum"]


def _polyline_distance(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to a polyline and the position along it (0 at the first point, 1 at the last) of the nearest segment."""
    distance = np.full(np.broadcast(x, y, z).shape, np.inf, dtype=np.float32)
    along = np.zeros_like(distance)
    for index in range(len(points) - 1):
        d = segment_distance(x, y, z, points[index], points[index + 1])
        closer = d < distance
        distance = np.where(closer, d, distance)
        along = np.where(closer, np.float32(index / (len(points) - 2 if len(points) > 2 else 1)), along)
    return distance, along


def paint_pancreas_and_duodenum(canvas: Canvas, frame: BodyFrame) -> None:
    """Pancreas (head, body, tail) and the duodenal C-loop around its head, over fat and bowel only."""
    rng, grid = canvas.rng, canvas.grid
    sy = frame.spine_y
    level = rng.uniform(-75.0, -45.0)  # the pancreatic head, about L1-L2
    head = np.array([-rng.uniform(25.0, 40.0), sy - rng.uniform(45.0, 60.0), level])
    neck = np.array([rng.uniform(-5.0, 10.0), sy - rng.uniform(55.0, 70.0), level + rng.uniform(5.0, 15.0)])
    body = np.array([rng.uniform(30.0, 50.0), sy - rng.uniform(40.0, 55.0), level + rng.uniform(15.0, 25.0)])
    tail = np.array([0.62 * frame.half_width, sy - rng.uniform(0.0, 15.0), level + rng.uniform(25.0, 45.0)])
    radii = (rng.uniform(14.0, 20.0), rng.uniform(9.0, 13.0), rng.uniform(8.0, 12.0), rng.uniform(7.0, 10.0))
    duodenum_r = rng.uniform(9.0, 14.0)
    lumen_share = rng.uniform(0.0, 0.6)  # 0: collapsed, only wall
    # The C-loop: from the pylorus down the right side of the head, across in front of the spine, up again.
    drop = rng.uniform(35.0, 50.0)
    loop = np.array(
        [
            head + [rng.uniform(10.0, 25.0), -rng.uniform(20.0, 30.0), rng.uniform(10.0, 20.0)],
            head + [-radii[0] - duodenum_r, -5.0, 10.0],
            head + [-radii[0] - duodenum_r, 0.0, -drop * 0.6],
            head + [-5.0, 5.0, -drop],
            head + [rng.uniform(35.0, 50.0), 10.0, -drop],
            head + [rng.uniform(45.0, 60.0), 0.0, -drop * 0.4],
        ]
    )
    path = np.array([head, neck, body, tail])
    low = np.minimum(path.min(axis=0), loop.min(axis=0)) - 25.0
    high = np.maximum(path.max(axis=0), loop.max(axis=0)) + 25.0
    lobules = rng.uniform(0.1, 0.2)
    texture = rng.uniform(3.0, 8.0)
    box = grid.box((low + high) / 2.0, float(np.max(high - low)) / 2.0)
    if box is None:
        return
    x, y, z = grid.coords(box)
    cavity = grid.crop(frame.cavity, box)
    # They displace fat, bowel and the drawn liver's medial-inferior edge (which in a real abdomen ends above
    # the pancreatic head); never vessels, kidneys, muscle or bone.
    soft = frozenset(
        {
            Tissue.VISCERAL_FAT,
            Tissue.BOWEL_WALL,
            Tissue.BOWEL_FLUID,
            Tissue.BOWEL_GAS,
            Tissue.ORAL_CONTRAST,
            Tissue.LIVER,
        }
    )
    gut_d, _ = _polyline_distance(x, y, z, loop)
    canvas.paint((gut_d < duodenum_r) & cavity, Tissue.BOWEL_WALL, box=box, only_over=soft)
    lumen = (gut_d < duodenum_r * lumen_share) & cavity
    canvas.paint(lumen, Tissue.BOWEL_FLUID, box=box, only_over=frozenset({Tissue.BOWEL_WALL}))
    distance, along = _polyline_distance(x, y, z, path)
    radius = np.interp(along, np.linspace(0.0, 1.0, len(radii)), radii).astype(np.float32)
    # Lobulated outline: the radius varies by ±10–20 % over ~12 mm.
    radius = radius * (1.0 + np.float32(lobules) * smooth_field(rng, x, y, z, 12.0, terms=5))
    hu = np.float32(canvas.mean_hu[Tissue.PANCREAS]) + np.float32(texture) * smooth_field(rng, x, y, z, 5.0, terms=4)
    fat_and_gut = soft | frozenset({Tissue.BOWEL_WALL})
    canvas.paint((distance < radius) & cavity, Tissue.PANCREAS, box=box, hu=hu, only_over=fat_and_gut)


def paint_back_muscles(canvas: Canvas, frame: BodyFrame, below_diaphragm: np.ndarray) -> None:
    """Erector spinae behind the spine, psoas beside it, quadratus lumborum behind the kidneys; fat-marbled."""
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    sy = frame.spine_y
    fat = frozenset({Tissue.VISCERAL_FAT, Tissue.SUBCUTANEOUS_FAT})
    erector_semi = (rng.uniform(26.0, 38.0), rng.uniform(22.0, 30.0))
    erector_x, erector_y = rng.uniform(30.0, 38.0), sy + rng.uniform(45.0, 52.0)
    quadratus_x, quadratus_semi = rng.uniform(58.0, 72.0), (rng.uniform(12.0, 20.0), rng.uniform(8.0, 12.0))
    marbling = rng.uniform(0.03, 0.1)  # share of the muscle that is fat streaks (more in older patients)
    streak_hu = rng.uniform(40.0, 100.0)
    muscle = np.zeros(grid.shape, dtype=bool)
    for side in (-1.0, 1.0):
        erector = ellipsoid_q(x, y, z, (side * erector_x, erector_y, 0.0), (*erector_semi, 1e6))
        muscle |= erector < 1.0
        psoas_r = np.clip(6.0 - 0.12 * z, 0.0, 28.0)
        psoas = (x - np.float32(side * 38.0)) ** 2 + (y - np.float32(sy + 5.0)) ** 2 < psoas_r**2
        muscle |= psoas & below_diaphragm
        # Quadratus lumborum: grows below the kidneys' upper poles, between psoas and the flank muscles.
        quadratus_scale = np.clip(-(z + 30.0) / 40.0, 0.0, 1.0)
        quadratus = ellipsoid_q(x, y, z, (side * quadratus_x, sy + 22.0, 0.0), (*quadratus_semi, 1e6))
        muscle |= (quadratus < quadratus_scale) & below_diaphragm
    streaks = np.abs(smooth_field(rng, x, y, z, 6.0, terms=6)) < np.float32(marbling)
    hu = np.where(
        streaks, np.float32(canvas.mean_hu[Tissue.MUSCLE] - streak_hu), np.float32(canvas.mean_hu[Tissue.MUSCLE])
    )
    canvas.paint(muscle, Tissue.MUSCLE, hu=hu.astype(np.float32), only_over=fat)
