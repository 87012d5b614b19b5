"""A head for the CT phantom: a scan with no liver in it, which a liver model must leave empty.

A model trained only on abdominal phantoms has never seen a scan without a liver, and labels whatever soft
tissue fills the body: measured before heads were added, the default called 1.3 L of a synthetic head
"liver". Training on heads (label 0 everywhere) teaches it that a liver must look like one.

Layers from outside in, as on a head CT at brain window: skin, a thin scalp (fat and muscle), the skull
(outer cortical table, cancellous diploë, inner table), a thin CSF rim, the brain (grey and white matter,
25–45 HU) with two lateral ventricles and a sulcal pattern of CSF; the couch under it. The head is an
ellipsoid with a flattened occiput, centred on the grid in z (so every slice crosses it, as an axial head
CT does) and tilted a little about the left-right axis.
"""

from __future__ import annotations

import numpy as np

from condswin.ct.phantom_canvas import Canvas, Tissue, hu_ranges
from condswin.ct.phantom_shapes import ellipsoid_q, smooth_field

__all__ = ["HEAD_FIELD_OF_VIEW_MM", "paint_head"]

# Field of view of a head CT (a body scan's is 360-460 mm).
HEAD_FIELD_OF_VIEW_MM = (220.0, 280.0)


def _tilt(angle: float) -> np.ndarray:
    """Rotation about the left-right (x) axis; columns are the head's own axes in patient space."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def paint_head(canvas: Canvas) -> None:
    """Paint a head (no liver, no tumour) onto a fresh canvas (all air).

    Args:
        canvas: the canvas; its grid's z is taken relative to the grid centre's level.
    """
    rng, grid = canvas.rng, canvas.grid
    canvas.mean_hu[Tissue.BRAIN] = float(rng.uniform(*hu_ranges(canvas.phase)[Tissue.BRAIN]))
    x, y, z = grid.coords()
    z = z - np.float32(np.mean(grid.z))  # the head sits at the grid's centre level
    semi = np.array([rng.uniform(68.0, 78.0), rng.uniform(88.0, 100.0), rng.uniform(75.0, 90.0)])
    centre = (rng.uniform(-5.0, 5.0), rng.uniform(-10.0, 10.0), 0.0)
    rotation = _tilt(np.deg2rad(rng.uniform(-15.0, 15.0)))
    q = np.sqrt(ellipsoid_q(x, y, z, centre, semi, rotation))
    # A flatter back of the head (the occiput rests on the couch): shrink the radius behind the centre.
    behind = np.clip((y - np.float32(centre[1])) / np.float32(semi[1]), 0.0, 1.0)
    q = q * (1.0 + np.float32(rng.uniform(0.04, 0.08)) * behind**2)
    mean_radius = float(np.mean(semi))

    def shell(mm: float) -> np.ndarray:
        return q < np.float32(1.0 - mm / mean_radius)

    scalp = rng.uniform(4.0, 7.0)
    outer_table, diploe, inner_table = rng.uniform(1.5, 2.5), rng.uniform(2.0, 4.0), rng.uniform(1.0, 2.0)
    canvas.paint(shell(0.0), Tissue.SKIN)
    canvas.paint(shell(1.5), Tissue.SUBCUTANEOUS_FAT)
    canvas.paint(shell(scalp * 0.6), Tissue.MUSCLE)
    depth = scalp
    for tissue, thickness in (
        (Tissue.BONE_CORTICAL, outer_table),
        (Tissue.BONE_CANCELLOUS, diploe),
        (Tissue.BONE_CORTICAL, inner_table),
    ):
        canvas.paint(shell(depth), tissue)
        depth += thickness
    canvas.paint(shell(depth), Tissue.CSF)
    brain = shell(depth + rng.uniform(1.0, 2.5))
    # Grey/white contrast and sulci: a smooth field split into bands (white matter deeper, CSF in the folds).
    pattern = smooth_field(rng, x, y, z, rng.uniform(6.0, 10.0), terms=5)
    white_shift = np.float32(-rng.uniform(5.0, 10.0))
    hu = np.float32(canvas.mean_hu[Tissue.BRAIN]) + np.where(q < 0.75, white_shift, np.float32(0.0))
    canvas.paint(brain, Tissue.BRAIN, hu=np.broadcast_to(hu, brain.shape).astype(np.float32))
    canvas.paint(brain & (np.abs(pattern) < 0.04) & (q > 0.8), Tissue.CSF)
    for side in (-1.0, 1.0):  # the lateral ventricles, beside the midline
        ventricle = ellipsoid_q(
            x,
            y,
            z,
            (side * rng.uniform(8.0, 14.0), centre[1] + rng.uniform(-10.0, 5.0), rng.uniform(5.0, 20.0)),
            (rng.uniform(4.0, 9.0), rng.uniform(22.0, 32.0), rng.uniform(8.0, 14.0)),
            rotation,
        )
        canvas.paint(ventricle < 1.0, Tissue.CSF, only_over=frozenset({Tissue.BRAIN}))
    # The couch under the back of the head.
    back = centre[1] + semi[1] * 0.95 + rng.uniform(3.0, 10.0)
    couch = (y > back) & (y < back + 25.0) & (np.abs(x) < 200.0)
    canvas.paint(np.broadcast_to(couch, grid.shape), Tissue.TABLE, only_over=frozenset({Tissue.AIR}))
