"""The procedural CT phantom's tissues, their HU per contrast phase, and the canvas the painting steps share.

Kept apart from the painting steps (:mod:`condswin.ct.phantom_anatomy`, :mod:`condswin.ct.phantom_neighbours`,
:mod:`condswin.ct.phantom_tumours`) so that each of them imports the tissue classes without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from condswin.ct.phantom_liver_shape import LiverShape
from condswin.ct.phantom_shapes import Box, PhantomGrid

__all__ = ["Tissue", "PHASES", "LIVER_TISSUES", "DRAWN_WHERE_PAINTED", "hu_ranges", "Canvas", "BodyFrame"]


class Tissue(IntEnum):
    """Tissue classes of the phantom (the value stored in its tissue map)."""

    AIR = 0
    TABLE = 1
    SKIN = 2
    SUBCUTANEOUS_FAT = 3
    MUSCLE = 4
    VISCERAL_FAT = 5
    LUNG = 6
    HEART = 7
    BOWEL_WALL = 8
    BOWEL_FLUID = 9
    BOWEL_GAS = 10
    ORAL_CONTRAST = 11
    SPLEEN = 12
    KIDNEY_CORTEX = 13
    KIDNEY_MEDULLA = 14
    LIVER = 15
    PORTAL_VEIN = 16
    HEPATIC_VEIN = 17
    PORTAL_TRUNK = 18
    IVC = 19
    AORTA = 20
    GALLBLADDER = 21
    BONE_CORTICAL = 22
    BONE_CANCELLOUS = 23
    DISC = 24
    CSF = 25
    TUMOUR = 26
    PANCREAS = 27
    BRAIN = 28


PHASES: tuple[str, ...] = ("native", "arterial", "portal")

# Tissues whose mean HU the painter of their region draws (see Canvas): the head's.
DRAWN_WHERE_PAINTED: frozenset[Tissue] = frozenset({Tissue.BRAIN})

# Tissues that belong to the liver label (LiTS counts intrahepatic vessels as liver).
LIVER_TISSUES: frozenset[Tissue] = frozenset({Tissue.LIVER, Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN})

# (low, high) HU of each tissue's mean, per phase (native, arterial, portal venous); one value per case is
# drawn from the range, noise and texture come on top.
_HU_TABLE: dict[Tissue, tuple[tuple[float, float], ...]] = {
    Tissue.AIR: ((-1000, -1000),) * 3,
    Tissue.TABLE: ((-650, -550),) * 3,
    Tissue.SKIN: ((20, 45),) * 3,
    Tissue.SUBCUTANEOUS_FAT: ((-120, -95),) * 3,
    Tissue.MUSCLE: ((40, 55), (50, 62), (55, 70)),
    Tissue.VISCERAL_FAT: ((-110, -85),) * 3,
    Tissue.LUNG: ((-880, -830),) * 3,
    Tissue.HEART: ((35, 45), (220, 300), (130, 170)),
    Tissue.BOWEL_WALL: ((30, 45), (70, 100), (80, 110)),
    Tissue.BOWEL_FLUID: ((0, 25),) * 3,
    Tissue.BOWEL_GAS: ((-1000, -960),) * 3,
    Tissue.ORAL_CONTRAST: ((200, 400),) * 3,
    Tissue.SPLEEN: ((40, 50), (100, 140), (105, 130)),
    Tissue.KIDNEY_CORTEX: ((30, 40), (180, 230), (150, 190)),
    Tissue.KIDNEY_MEDULLA: ((25, 35), (60, 90), (125, 165)),
    Tissue.LIVER: ((50, 65), (65, 85), (95, 125)),
    Tissue.PORTAL_VEIN: ((35, 45), (120, 160), (160, 200)),
    Tissue.HEPATIC_VEIN: ((35, 45), (45, 60), (130, 170)),
    Tissue.PORTAL_TRUNK: ((35, 45), (120, 160), (160, 200)),
    Tissue.IVC: ((35, 45), (60, 90), (110, 150)),
    Tissue.AORTA: ((35, 45), (250, 350), (140, 190)),
    Tissue.GALLBLADDER: ((0, 20),) * 3,
    Tissue.BONE_CORTICAL: ((700, 1100),) * 3,
    Tissue.BONE_CANCELLOUS: ((160, 300),) * 3,
    Tissue.DISC: ((70, 100),) * 3,
    Tissue.CSF: ((10, 30),) * 3,
    Tissue.TUMOUR: ((50, 65), (65, 85), (95, 125)),  # overwritten per tumour relative to the liver
    Tissue.PANCREAS: ((35, 50), (100, 140), (80, 120)),
    Tissue.BRAIN: ((32, 42),) * 3,  # grey matter; white matter is drawn 5-10 HU darker (phantom_head)
}


def hu_ranges(phase: str) -> dict[Tissue, tuple[float, float]]:
    """The (low, high) range of each tissue's mean HU in a contrast phase.

    Args:
        phase: ``"native"``, ``"arterial"`` or ``"portal"``.

    Returns:
        Mapping tissue → (low, high) HU.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown contrast phase '{phase}'; expected one of {PHASES}")
    index = PHASES.index(phase)
    return {tissue: ranges[index] for tissue, ranges in _HU_TABLE.items()}


@dataclass
class Canvas:
    """The phantom being painted: a tissue map, a HU map, and each tissue's mean HU for this case.

    ``liver_shape``, when given, is painted instead of the drawn liver (see
    :mod:`condswin.ct.phantom_liver_shape`); ``liver_shift_mm`` then records where it was moved to.
    """

    grid: PhantomGrid
    rng: np.random.Generator
    phase: str
    liver_shape: LiverShape | None = None
    tissue: np.ndarray = field(init=False)
    hu: np.ndarray = field(init=False)
    mean_hu: dict[Tissue, float] = field(init=False)
    liver_shift_mm: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tissue = np.zeros(self.grid.shape, dtype=np.uint8)
        self.hu = np.full(self.grid.shape, -1000.0, dtype=np.float32)
        # Tissues of other body regions are drawn where they are painted: one more draw here would shift the
        # random stream of every abdominal phantom.
        self.mean_hu = {
            t: float(self.rng.uniform(lo, hi))
            for t, (lo, hi) in hu_ranges(self.phase).items()
            if t not in DRAWN_WHERE_PAINTED
        }

    def paint(
        self,
        mask: np.ndarray,
        tissue: Tissue,
        box: Box | None = None,
        hu: float | np.ndarray | None = None,
        only_over: frozenset[Tissue] | None = None,
    ) -> np.ndarray:
        """Set voxels to a tissue and its HU.

        Args:
            mask: boolean array of the box's shape (or of the grid when ``box`` is None).
            tissue: the tissue to paint.
            box: index box the mask refers to.
            hu: HU values (scalar, or an array of the mask's shape); the tissue's mean when None.
            only_over: paint only voxels currently holding one of these tissues.

        Returns:
            The mask actually painted (box-shaped).
        """
        box = box if box is not None else (slice(None),) * 3
        tissue_view = self.tissue[box]
        mask = np.broadcast_to(mask, tissue_view.shape)
        if only_over is not None:
            mask = mask & np.isin(tissue_view, np.array(sorted(only_over), dtype=np.uint8))
        tissue_view[mask] = tissue
        value = self.mean_hu[tissue] if hu is None else hu
        hu_view = self.hu[box]
        hu_view[mask] = np.broadcast_to(value, mask.shape)[mask] if isinstance(value, np.ndarray) else value
        return mask


@dataclass
class BodyFrame:
    """Landmarks shared by the painting steps (patient mm, z relative to the liver centre)."""

    body_y: float
    half_width: float
    half_ap_front: float
    half_ap_back: float
    cavity: np.ndarray = field(repr=False)
    spine_y: float = 0.0
    dome_right: float = 0.0
    liver_semi_z: float = 0.0
    real_liver: np.ndarray | None = field(default=None, repr=False)  # a placed real liver shape, else None
