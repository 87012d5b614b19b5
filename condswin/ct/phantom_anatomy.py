"""Anatomy of the procedural abdominal CT phantom: tissues, their HU per contrast phase, and where they lie.

The body is painted from the outside in (skin, subcutaneous fat, muscle wall, visceral fat), then the
thorax above a two-domed diaphragm (lung bases, heart), bowel and stomach, spleen and back muscles, the
liver with its vessels, the structures that indent or cross the liver (gallbladder, kidneys, inferior vena
cava, aorta, spine, ribs), and last the pancreas and duodenum (:mod:`condswin.ct.phantom_neighbours`, which
also shapes the back muscles). Tumours are added by :mod:`condswin.ct.phantom_tumours`.

Sizes and positions are drawn from ranges typical of adult abdominal CT (body width 260–340 mm, wider where a
real liver shape needs room; liver right lobe 14–18 cm craniocaudal, vertebral body ~4 cm, aorta 2–2.6 cm,
kidneys ~11 cm long). A real liver shape also lifts the diaphragm where it reaches above the drawn dome. HU
ranges per phase follow common radiology teaching values (e.g. liver 50–65 HU unenhanced, 95–125 HU portal
venous; aorta 250–350 HU arterial; renal cortex 180–230 HU arterial).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from condswin.ct.phantom_canvas import LIVER_TISSUES, BodyFrame, Canvas, Tissue
from condswin.ct.phantom_liver_shape import place_liver_shape
from condswin.ct.phantom_neighbours import paint_back_muscles, paint_pancreas_and_duodenum
from condswin.ct.phantom_shapes import ellipsoid_q, rotation_z, segment_distance, smooth_field

__all__ = ["paint_anatomy"]


def _body_radius(
    x: np.ndarray, y: np.ndarray, half_width: float, front: float, back: float, wobble: np.ndarray
) -> np.ndarray:
    """Normalised radius of the body cross-section: an ellipse in front, a flatter super-ellipse behind."""
    xn = np.abs(x) / np.float32(half_width)
    front_r = np.sqrt(xn**2 + (y / np.float32(front)) ** 2)
    back_r = (xn**2.6 + (np.abs(y) / np.float32(back)) ** 2.6) ** np.float32(1 / 2.6)
    return np.where(y < 0, front_r, back_r) / wobble


def _thickness(theta: np.ndarray, side: float, front: float, back: float, ripple: np.ndarray) -> np.ndarray:
    """A layer thickness in mm around the body: ``side`` at the flanks, ``front``/``back`` at the midline."""
    cos2 = np.cos(theta) ** 2
    midline = np.where(np.sin(theta) < 0, np.float32(front), np.float32(back))
    return (np.float32(side) * cos2 + midline * (1 - cos2)) * ripple


# A real liver shape fills at most these shares of the abdominal cavity's width and depth; a body drawn smaller
# grows to hold it, because a real liver clipped by a body too small for it teaches a truncated liver (with bodies
# drawn independently of the shape, 41 % of each shape was lost; docs/training.md).
LIVER_CAVITY_WIDTH_SHARE = 0.85
LIVER_CAVITY_DEPTH_SHARE = 0.9


def _fit_body_to_liver(
    canvas: Canvas,
    half_width: float,
    front: float,
    back: float,
    fat_mm: tuple[float, float, float],
    wall_mm: tuple[float, float, float],
) -> tuple[float, float, float]:
    """The outer half width and front/back half depths (mm), enlarged where the real liver shape needs room."""
    if canvas.liver_shape is None:
        return half_width, front, back
    points = canvas.liver_shape.points()
    width, depth = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    half_width = max(half_width, width / (2 * LIVER_CAVITY_WIDTH_SHARE) + fat_mm[0] + wall_mm[0])
    layers = fat_mm[1] + wall_mm[1] + fat_mm[2] + wall_mm[2]
    grow = (depth / LIVER_CAVITY_DEPTH_SHARE + layers) / (front + back)
    return (half_width, front * grow, back * grow) if grow > 1 else (half_width, front, back)


def _paint_body(canvas: Canvas) -> BodyFrame:
    rng, grid = canvas.rng, canvas.grid
    half_width = rng.uniform(130.0, 170.0)
    front = half_width * rng.uniform(0.68, 0.85)
    back = front * rng.uniform(0.9, 1.0)
    body_y = rng.uniform(-15.0, 10.0)
    x, y, z = grid.coords()
    yb = y - np.float32(body_y)
    theta = np.arctan2(yb, x)
    wobble = 1.0 + np.float32(rng.uniform(0.0, 0.03)) * np.cos(2 * theta + np.float32(rng.uniform(0, 2 * np.pi)))
    for m in (3, 4, 5):
        wobble += np.float32(rng.uniform(0.0, 0.01)) * np.cos(m * theta + np.float32(rng.uniform(0, 2 * np.pi)))
    # The abdomen widens slightly towards the pelvis and narrows towards the chest.
    wobble = wobble * (1.0 - np.float32(0.0006) * z)
    fat_mm = (rng.uniform(12.0, 35.0), rng.uniform(10.0, 35.0), rng.uniform(6.0, 18.0))  # side, front, back
    wall_mm = (rng.uniform(12.0, 18.0), rng.uniform(7.0, 11.0), rng.uniform(10.0, 15.0))
    half_width, front, back = _fit_body_to_liver(canvas, half_width, front, back, fat_mm, wall_mm)
    rho = _body_radius(x, yb, half_width, front, back, wobble)
    # Outer radius in mm along each voxel's direction, to turn layer thicknesses in mm into radius fractions.
    radius_mm = 1.0 / np.maximum(_body_radius(np.cos(theta), np.sin(theta), half_width, front, back, wobble), 1e-6)

    def ripple() -> np.ndarray:
        phase = rng.uniform(0, 2 * np.pi, 2)
        third = np.float32(0.2) * np.cos(3 * theta + np.float32(phase[0]))
        return 1.0 + third + np.float32(0.1) * np.cos(5 * theta + np.float32(phase[1]))

    fat = _thickness(theta, *fat_mm, ripple())
    wall = _thickness(theta, *wall_mm, ripple())
    canvas.paint(rho < 1.0, Tissue.SKIN)
    canvas.paint(rho < 1.0 - 2.0 / radius_mm, Tissue.SUBCUTANEOUS_FAT)
    canvas.paint(rho < 1.0 - fat / radius_mm, Tissue.MUSCLE)
    cavity = rho < 1.0 - (fat + wall) / radius_mm
    strands = np.abs(smooth_field(rng, x, y, z, 14.0, terms=5)) < 0.06
    # Mesenteric vessels and septa: thin denser strands through the visceral fat.
    fat_mean = np.float32(canvas.mean_hu[Tissue.VISCERAL_FAT])
    fat_hu = np.where(strands, fat_mean + np.float32(70.0), fat_mean)
    canvas.paint(cavity, Tissue.VISCERAL_FAT, hu=fat_hu)
    _paint_table(canvas, yb, x, back)
    return BodyFrame(
        body_y=body_y,
        half_width=half_width - fat_mm[0] - wall_mm[0],
        half_ap_front=front - fat_mm[1] - wall_mm[1],
        half_ap_back=back - fat_mm[2] - wall_mm[2],
        cavity=cavity,
        spine_y=body_y + back - rng.uniform(88.0, 100.0),
    )


def _paint_table(canvas: Canvas, yb: np.ndarray, x: np.ndarray, back: float) -> None:
    """The patient couch: a curved carbon-fibre shell with a foam core below the back."""
    # A shallow cradle: the sides of the couch are higher (further forward) than its middle.
    top = np.float32(back + canvas.rng.uniform(2.0, 8.0)) - x * x / np.float32(3000.0)
    depth = yb - top
    inside = (depth > 0) & (depth < 28.0) & (np.abs(x) < 230.0)
    canvas.paint(inside, Tissue.TABLE, only_over=frozenset({Tissue.AIR}))
    shell = inside & ((depth < 2.0) | (depth > 26.0))
    canvas.paint(shell, Tissue.TABLE, hu=np.float32(canvas.rng.uniform(150.0, 350.0)))


def _diaphragm(frame: BodyFrame, x: np.ndarray, y: np.ndarray, rng_values: np.ndarray) -> np.ndarray:
    """Height (z) of the diaphragm over each (x, y): two domes, the right one higher, lower behind."""
    right_top, left_drop, curvature = rng_values
    yr = y - np.float32(frame.body_y)
    side = np.float32(0.4 * frame.half_width)
    dome_r = np.float32(right_top) - ((x + side) ** 2 + yr**2) / np.float32(curvature)
    dome_l = np.float32(right_top - left_drop) - ((x - side) ** 2 + yr**2) / np.float32(curvature)
    # The posterior costophrenic recesses reach further down than the front of the domes.
    return np.maximum(dome_r, dome_l) - np.float32(0.3) * np.maximum(yr, 0)


def _paint_thorax(canvas: Canvas, frame: BodyFrame) -> np.ndarray:
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    frame.liver_semi_z = rng.uniform(75.0, 95.0)
    frame.dome_right = frame.liver_semi_z * rng.uniform(0.55, 0.75)
    dome = _diaphragm(frame, x, y, np.array([frame.dome_right, rng.uniform(10.0, 25.0), rng.uniform(130.0, 190.0)]))
    if canvas.liver_shape is not None:
        dome = _place_real_liver(canvas, frame, dome)
    above = z > dome
    canvas.paint(frame.cavity & (z > dome - 4.0), Tissue.MUSCLE)  # the diaphragm itself
    canvas.paint(frame.cavity & above, Tissue.LUNG)
    heart_centre = (rng.uniform(10.0, 35.0), frame.body_y - 0.35 * frame.half_ap_front, frame.dome_right + 35.0)
    heart_q = ellipsoid_q(x, y, z, heart_centre, (55.0, 45.0, 50.0), rotation_z(rng.uniform(-0.5, -0.2)))
    canvas.paint((heart_q < 1.25) & above & frame.cavity, Tissue.VISCERAL_FAT)
    canvas.paint((heart_q < 1.0) & above & frame.cavity, Tissue.MUSCLE)  # myocardium
    canvas.paint((heart_q < 0.65) & above & frame.cavity, Tissue.HEART)  # blood in the chambers
    return dome


def _place_real_liver(canvas: Canvas, frame: BodyFrame, dome: np.ndarray) -> np.ndarray:
    """Place the real liver shape (``frame.real_liver``) and return the diaphragm raised over it.

    The shape goes against the right wall, its top under the right dome; a real liver's upper surface is the
    diaphragm's, so wherever the shape reaches above the drawn dome the dome is lifted to lie on it.
    """
    grid, shape = canvas.grid, canvas.liver_shape
    assert shape is not None  # called only with a shape
    placed, canvas.liver_shift_mm = place_liver_shape(
        shape,
        grid,
        right_edge_x=-frame.half_width + 2.0,
        top_z=frame.dome_right - 6.0,
        centre_y=frame.body_y,
    )
    frame.real_liver = placed
    z = np.broadcast_to(grid.z, placed.shape)
    top = np.where(placed, z, -np.inf).max(axis=0, keepdims=True)  # the shape's highest point per column
    return np.where(np.isfinite(top), np.maximum(dome, top + np.float32(5.0)), dome).astype(np.float32)


def _paint_tube(
    canvas: Canvas,
    start: np.ndarray,
    end: np.ndarray,
    radius: float,
    tissue: Tissue,
    only_over: frozenset[Tissue] | None = None,
) -> None:
    box = canvas.grid.box((start + end) / 2, float(np.linalg.norm(end - start)) / 2 + radius + 2.0)
    if box is None:
        return
    distance = segment_distance(*canvas.grid.coords(box), start, end)
    canvas.paint(distance < radius, tissue, box=box, only_over=only_over)


def _paint_bowel(canvas: Canvas, frame: BodyFrame, dome: np.ndarray) -> None:
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    below = z < dome - 4.0
    # Stomach: left upper quadrant, wall around a lumen with an air-fluid level (the patient lies supine,
    # so gas rises to the front).
    centre = (0.45 * frame.half_width, frame.body_y - 0.3 * frame.half_ap_front, rng.uniform(10.0, 30.0))
    semi = (rng.uniform(35.0, 50.0), rng.uniform(25.0, 35.0), rng.uniform(40.0, 55.0))
    rot = rotation_z(rng.uniform(-0.6, -0.2))
    box = grid.box(centre, max(semi) + 5.0)
    if box is not None:
        q = ellipsoid_q(*grid.coords(box), centre, semi, rot)
        inside = grid.crop(below, box) & grid.crop(frame.cavity, box)
        canvas.paint((q < 1.0) & inside, Tissue.BOWEL_WALL, box=box)
        lumen = (q < (1 - 5.0 / min(semi)) ** 2) & inside
        canvas.paint(lumen, Tissue.BOWEL_FLUID, box=box)
        level = centre[1] - semi[1] * rng.uniform(0.0, 0.6)
        canvas.paint(lumen & (grid.coords(box)[1] < level), Tissue.BOWEL_GAS, box=box)
    # Small bowel and colon below the liver: the level sets of a smooth random field make convoluted
    # loops; walls around fluid, with gas pockets and (in some patients) positive oral contrast.
    # Bowel is intraperitoneal: it stays in front of the spine, aorta and kidneys.
    region = frame.cavity & below & (z < np.float32(rng.uniform(-10.0, 20.0))) & (y < np.float32(frame.spine_y - 25.0))
    loops = smooth_field(rng, x, y, z, rng.uniform(32.0, 42.0), terms=8)
    contents = smooth_field(rng, x, y, z, 60.0, terms=4)
    fat = frozenset({Tissue.VISCERAL_FAT})
    canvas.paint(region & (loops > 0.3), Tissue.BOWEL_WALL, only_over=fat)
    # Many loops are collapsed (thick enhancing wall, little fluid): the lumen threshold varies per patient.
    lumen = region & (loops > np.float32(rng.uniform(0.5, 0.9)))
    canvas.paint(lumen, Tissue.BOWEL_FLUID, only_over=frozenset({Tissue.BOWEL_WALL}))
    gas = lumen & (contents > rng.uniform(0.6, 1.2))
    canvas.paint(gas, Tissue.BOWEL_GAS, only_over=frozenset({Tissue.BOWEL_FLUID}))
    if rng.uniform() < 0.3:
        canvas.paint(lumen & (contents < -0.8), Tissue.ORAL_CONTRAST, only_over=frozenset({Tissue.BOWEL_FLUID}))


def _paint_spleen_and_back_muscles(canvas: Canvas, frame: BodyFrame, dome: np.ndarray) -> None:
    rng, grid = canvas.rng, canvas.grid
    below = dome - 4.0
    centre = (0.72 * frame.half_width, frame.spine_y - rng.uniform(0.0, 20.0), rng.uniform(0.0, 25.0))
    semi = (rng.uniform(20.0, 28.0), rng.uniform(45.0, 60.0), rng.uniform(45.0, 60.0))
    box = grid.box(centre, max(semi) + 5.0)
    if box is not None:
        x, y, z = grid.coords(box)
        q = ellipsoid_q(x, y, z, centre, semi, rotation_z(rng.uniform(0.5, 0.9)))
        canvas.paint((q < 1.0) & (z < grid.crop(below, box)) & grid.crop(frame.cavity, box), Tissue.SPLEEN, box=box)
    paint_back_muscles(canvas, frame, grid.z < below)


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Minimum of two distance-like fields with a rounded crease of width ``k`` (a smooth union)."""
    h = np.clip((np.float32(k) - np.abs(a - b)) / np.float32(k), 0.0, 1.0)
    return np.minimum(a, b) - h * h * np.float32(k / 4.0)


def _paint_liver(canvas: Canvas, frame: BodyFrame, dome: np.ndarray) -> dict[str, np.ndarray]:
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    hw, front, back = frame.half_width, frame.half_ap_front, frame.half_ap_back
    semi_z = frame.liver_semi_z
    right = ellipsoid_q(
        x,
        y,
        z,
        (-0.4 * hw, frame.body_y + rng.uniform(-0.1, 0.1) * front, 0.0),
        (0.68 * hw * rng.uniform(0.95, 1.1), 1.0 * (front + back) / 2, semi_z),
        rotation_z(rng.uniform(-0.25, 0.05)),
    )
    left = ellipsoid_q(
        x,
        y,
        z,
        (0.1 * hw, frame.body_y - 0.5 * front, 0.35 * semi_z),
        (0.45 * hw * rng.uniform(0.8, 1.2), 0.32 * front, 0.55 * semi_z),
        rotation_z(rng.uniform(-0.2, 0.1)),
    )
    shape = _smooth_min(np.sqrt(right) - 1, np.sqrt(left) - 1, 0.25)
    shape = shape + np.float32(0.1) * smooth_field(rng, x, y, z, 110.0)
    shape = shape + np.float32(0.04) * smooth_field(rng, x, y, z, 45.0)
    # Keep clear of the spine and the aorta: the caudate lobe wraps the IVC but not the vertebra.
    spine_q = ellipsoid_q(x, y, z, (0.0, frame.spine_y + 8.0, 0.0), (34.0, 34.0, 1e6))
    shape = np.maximum(shape, np.float32(1.0) - np.sqrt(spine_q))
    if canvas.liver_shape is None:
        liver = (shape < 0) & frame.cavity & (z < dome - 4.0)
        # The inferior tip ends in a thin edge: shave the bottom progressively.
        liver = liver & (z > np.float32(-semi_z * 0.9) + np.float32(0.15) * (x + np.float32(0.42 * hw)))
    else:
        # The real shape placed with the diaphragm (_place_real_liver); the random draws above still happen, so
        # the rest of the anatomy of a seed is the same with or without a shape.
        assert frame.real_liver is not None
        liver = frame.real_liver & frame.cavity & (z < dome - 4.0) & (spine_q > 1.0)
    texture = np.float32(rng.uniform(2.0, 5.0)) * smooth_field(rng, x, y, z, 30.0)
    texture += np.float32(canvas.mean_hu[Tissue.LIVER])
    # The liver displaces fat and bowel but not muscle (back muscles, crura) or the spleen.
    displaced = frozenset(
        {Tissue.VISCERAL_FAT, Tissue.BOWEL_WALL, Tissue.BOWEL_FLUID, Tissue.BOWEL_GAS, Tissue.ORAL_CONTRAST}
    )
    canvas.paint(liver, Tissue.LIVER, hu=texture, only_over=displaced)
    _paint_liver_vessels(canvas, frame, liver)
    return {"liver": liver}


def _branch_tree(
    rng: np.random.Generator, start: np.ndarray, direction: np.ndarray, length: float, radius: float, depth: int
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Segments of a random vessel tree: each branch splits in two thinner, shorter, diverging branches."""
    direction = direction / np.linalg.norm(direction)
    end = start + direction * length
    segments = [(start, end, radius)]
    if depth > 0:
        for _ in range(2):
            turn = direction + rng.normal(0.0, 0.55, 3)
            segments += _branch_tree(rng, end, turn, length * rng.uniform(0.6, 0.8), radius * 0.68, depth - 1)
    return segments


def _paint_liver_vessels(canvas: Canvas, frame: BodyFrame, liver: np.ndarray) -> None:
    rng = canvas.rng
    hw = frame.half_width
    hilum = np.array([-0.15 * hw, frame.body_y + 0.05 * frame.half_ap_front, -25.0])
    # Portal vein: enters at the hilum from below-medially, then branches right and left.
    trunk_start = hilum + np.array([25.0, 15.0, -45.0])
    _paint_tube(canvas, trunk_start, hilum, 7.0, Tissue.PORTAL_TRUNK, only_over=frozenset({Tissue.VISCERAL_FAT}))
    inside = frozenset({Tissue.LIVER})
    for direction in ([-1.0, 0.1, 0.15], [0.8, -0.6, 0.2]):
        for start, end, radius in _branch_tree(rng, hilum, np.array(direction), 40.0, 6.0, 3):
            _paint_tube(canvas, start, end, radius, Tissue.PORTAL_VEIN, only_over=inside)
    # Hepatic veins: converge on the IVC just below the diaphragm.
    confluence = np.array([-22.0, frame.spine_y - 25.0, frame.dome_right - 20.0])
    for direction in ([-1.0, -0.3, -0.25], [-0.3, -1.0, -0.3], [0.6, -1.0, -0.2]):
        for start, end, radius in _branch_tree(rng, confluence, np.array(direction), 45.0, 5.0, 2):
            _paint_tube(canvas, start, end, radius, Tissue.HEPATIC_VEIN, only_over=inside)


def _paint_kidney(canvas: Canvas, frame: BodyFrame, side: float, z_centre: float) -> None:
    rng, grid = canvas.rng, canvas.grid
    centre = (side * rng.uniform(62.0, 78.0), frame.spine_y + rng.uniform(0.0, 12.0), z_centre)
    semi = (rng.uniform(25.0, 30.0), rng.uniform(20.0, 25.0), rng.uniform(50.0, 60.0))
    # The hilum faces forwards and towards the spine.
    rot = rotation_z(side * rng.uniform(0.4, 0.7))
    box = grid.box(centre, max(semi) + 12.0)
    if box is None:
        return
    x, y, z = grid.coords(box)
    fat = ellipsoid_q(x, y, z, centre, tuple(s + 8.0 for s in semi), rot) < 1.0
    canvas.paint(fat, Tissue.VISCERAL_FAT, box=box, only_over=frozenset({Tissue.VISCERAL_FAT, Tissue.LIVER}))
    q = ellipsoid_q(x, y, z, centre, semi, rot)
    canvas.paint(q < 1.0, Tissue.KIDNEY_CORTEX, box=box)
    canvas.paint(q < 0.55, Tissue.KIDNEY_MEDULLA, box=box)
    hilum = np.asarray(centre) + rot @ np.array([-semi[0] * 0.75, 0.0, 0.0]) * 1.0
    sinus = ellipsoid_q(x, y, z, hilum, (semi[0] * 0.55, semi[1] * 0.4, semi[2] * 0.45), rot) < 1.0
    canvas.paint(sinus, Tissue.VISCERAL_FAT, box=box)


def _paint_vessels_and_spine(canvas: Canvas, frame: BodyFrame) -> None:
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    sy = frame.spine_y
    # Diaphragmatic crura: muscular bands arching in front of the spine around the aorta.
    crus_q = ellipsoid_q(x, y, z, (0.0, sy - 8.0, 0.0), (33.0, 30.0, 1e6))
    canvas.paint((crus_q < 1.0) & (y < np.float32(sy + 5.0)), Tissue.MUSCLE, only_over=frozenset({Tissue.VISCERAL_FAT}))
    aorta_r = rng.uniform(10.0, 13.0)
    aorta_x, aorta_y = rng.uniform(8.0, 18.0), sy - 20.0 - aorta_r
    canvas.paint((x - np.float32(aorta_x)) ** 2 + (y - np.float32(aorta_y)) ** 2 < aorta_r**2, Tissue.AORTA)
    ivc = ellipsoid_q(x, y, z, (-rng.uniform(22.0, 30.0), sy - 32.0, 0.0), (rng.uniform(12.0, 16.0), 10.0, 1e6))
    canvas.paint(ivc < 1.0, Tissue.IVC)

    # Vertebral column: bodies 26 mm high separated by 8 mm discs, posterior arch, canal, processes.
    body_q = ellipsoid_q(x, y, z, (0.0, sy, 0.0), (19.0, 15.0, 1e6))
    level = np.mod(z + np.float32(rng.uniform(0.0, 34.0)), np.float32(34.0))
    disc = level < 8.0
    canvas.paint(body_q < 1.0, Tissue.BONE_CORTICAL)
    canvas.paint((body_q < 0.8) & ~disc, Tissue.BONE_CANCELLOUS)
    canvas.paint((body_q < 1.0) & disc, Tissue.DISC)
    canal_r2 = x**2 + (y - np.float32(sy + 27.0)) ** 2
    arch = (canal_r2 < 15.0**2) | (ellipsoid_q(x, y, z, (0.0, sy + 50.0, 0.0), (5.0, 14.0, 1e6)) < 1.0)
    arch = arch | (ellipsoid_q(np.abs(x), y, z, (21.0, sy + 24.0, 0.0), (9.0, 3.0, 1e6)) < 1.0)
    arch = arch & (~disc | (np.abs(x) < 10.0))
    canvas.paint(arch, Tissue.BONE_CORTICAL)
    canvas.paint(canal_r2 < 9.0**2, Tissue.CSF)


def _paint_ribs(canvas: Canvas, frame: BodyFrame) -> None:
    """Rib cross-sections in the body wall: oblique bands, so each slice cuts them at a different angle."""
    rng, grid = canvas.rng, canvas.grid
    x, y, z = grid.coords()
    yb = y - np.float32(frame.body_y)
    ring_a, ring_front, ring_back = frame.half_width + 8.0, frame.half_ap_front + 7.0, frame.half_ap_back + 5.0
    ring_ap = np.where(yb < 0, np.float32(ring_front), np.float32(ring_back))
    rho = np.sqrt((x / np.float32(ring_a)) ** 2 + (yb / ring_ap) ** 2)
    theta = np.arctan2(yb, x)
    near = np.abs(rho - 1.0) < 0.08
    spacing = rng.uniform(0.45, 0.6)
    slope = rng.uniform(0.006, 0.01)  # radians of angle per mm of height: ribs run down and forwards
    cortex = np.zeros(grid.shape, dtype=bool)
    marrow = np.zeros(grid.shape, dtype=bool)
    top = frame.dome_right + 40.0
    for side in (-1.0, 1.0):
        # Angle measured from the back (theta = +pi/2) round the side to the front.
        along = np.mod(side * (theta - np.float32(np.pi / 2)), np.float32(2 * np.pi))
        phase = along - np.float32(slope) * (np.float32(top) - z) + np.float32(rng.uniform(0, spacing))
        offset = np.mod(phase, np.float32(spacing)) - np.float32(spacing / 2)
        band = near & (along > 0.5) & (along < 2.3) & (z < top)
        length = np.float32(rng.uniform(0.06, 0.09))
        cortex |= band & (((offset / length) ** 2 + ((rho - 1.0) / np.float32(0.03)) ** 2) < 1.0)
        marrow |= band & (((offset / (length * 0.7)) ** 2 + ((rho - 1.0) / np.float32(0.015)) ** 2) < 1.0)
    soft = frozenset({Tissue.MUSCLE, Tissue.SUBCUTANEOUS_FAT, Tissue.VISCERAL_FAT, Tissue.LUNG})
    canvas.paint(cortex, Tissue.BONE_CORTICAL, only_over=soft)
    canvas.paint(marrow, Tissue.BONE_CANCELLOUS, only_over=frozenset({Tissue.BONE_CORTICAL}))


def _keep_one_liver(canvas: Canvas) -> None:
    """Give liver fragments cut off by other organs back to fat: the liver is one connected organ."""
    liver = np.isin(canvas.tissue, np.array(sorted(LIVER_TISSUES), dtype=np.uint8))
    components, count = ndimage.label(liver, structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    stray = liver & (components != int(np.argmax(sizes)))
    canvas.paint(stray, Tissue.VISCERAL_FAT)


def paint_anatomy(canvas: Canvas) -> BodyFrame:
    """Paint every structure except tumours onto the canvas.

    Args:
        canvas: a fresh canvas (all air).

    Returns:
        The body frame (landmarks) used.
    """
    frame = _paint_body(canvas)
    dome = _paint_thorax(canvas, frame)
    _paint_bowel(canvas, frame, dome)
    _paint_spleen_and_back_muscles(canvas, frame, dome)
    _paint_liver(canvas, frame, dome)
    canvas.paint(_gallbladder_mask(canvas, frame), Tissue.GALLBLADDER)
    kidney_z = canvas.rng.uniform(-75.0, -55.0)
    _paint_kidney(canvas, frame, -1.0, kidney_z - canvas.rng.uniform(5.0, 20.0))
    _paint_kidney(canvas, frame, 1.0, kidney_z)
    _paint_vessels_and_spine(canvas, frame)
    _paint_ribs(canvas, frame)
    # Last: painted in a box around them, whose size depends on the grid, and only over fat and bowel.
    paint_pancreas_and_duodenum(canvas, frame)
    _keep_one_liver(canvas)
    return frame


def _gallbladder_mask(canvas: Canvas, frame: BodyFrame) -> np.ndarray:
    rng, grid = canvas.rng, canvas.grid
    mask = np.zeros(grid.shape, dtype=bool)
    if rng.uniform() < 0.3:  # cholecystectomy or a contracted gallbladder: not visible
        return mask
    # Under the liver's inferior surface, to the right of the midline and towards the front.
    centre = (
        -rng.uniform(20.0, 45.0),
        frame.body_y - rng.uniform(0.2, 0.45) * frame.half_ap_front,
        -rng.uniform(35.0, 55.0),
    )
    semi = (rng.uniform(12.0, 18.0), rng.uniform(12.0, 18.0), rng.uniform(25.0, 40.0))
    rot = rotation_z(rng.uniform(-0.5, 0.5))
    box = grid.box(centre, max(semi) + 2.0)
    if box is not None:
        mask[box] = ellipsoid_q(*grid.coords(box), centre, semi, rot) < 1.0
        mask[box] &= grid.crop(frame.cavity, box)
    return mask
