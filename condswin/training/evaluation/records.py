"""What scoring one case yields: metric rows (one per method and setting) and the slices a montage shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MetricRow", "MontageRow", "CaseOutcome", "RowCallback", "representative_slice"]


@dataclass(frozen=True)
class MetricRow:
    """The metrics of one method on one whole volume under one setting.

    Attributes:
        case: the case id.
        method: the method's name.
        setting: the setting's label (``""`` for segmentation).
        metrics: image tasks ``{"nmse", "psnr", "ssim", "mae"}``; segmentation ``{class: {"dice", ...}}`` as
            :func:`condswin.metrics.mark_absent` leaves it (None for a class absent from both maps).
        details: descriptive columns (the acceleration the mask achieved, the σ a classical method used).
    """

    case: str
    method: str
    setting: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MontageRow:
    """One row of the montage: a representative slice of one case under one setting.

    Attributes:
        title: case id and setting.
        labels: True for label maps (segmentation), False for intensity images.
        input: what the methods were given (CT in HU, zero-filled or noisy image), 2-D.
        reference: the reference (label map or clean image), 2-D.
        outputs: method name → its result on the same slice, in method order.
        input_name: the input column's heading.
    """

    title: str
    labels: bool
    input: np.ndarray
    reference: np.ndarray
    outputs: Mapping[str, np.ndarray]
    input_name: str


RowCallback = Callable[[MetricRow], None]


@dataclass
class CaseOutcome:
    """Everything one case contributes: its rows, and its montage rows when it is shown.

    Attributes:
        rows / montage: see :class:`MetricRow`, :class:`MontageRow`.
        on_row: told of every row as soon as it is scored (progress of long cases: BM3D on big volumes).
    """

    rows: list[MetricRow] = field(default_factory=list)
    montage: list[MontageRow] = field(default_factory=list)
    on_row: RowCallback | None = None

    def add(self, row: MetricRow) -> None:
        """Keep a row and pass it to ``on_row``."""
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)


def representative_slice(reference: np.ndarray, labels: bool) -> int:
    """The slice (first axis) a figure shows: the most foreground for label maps, the largest object otherwise.

    For images the object is what exceeds 10 % of the volume's maximum, so the widest cross-section wins
    rather than a slice of bright fat or skull base (what the most total signal would pick in a head).

    Args:
        reference: (slices, H, W) reference volume.
        labels: whether it is a label map.

    Returns:
        A slice index; the middle one when no slice holds anything.
    """
    flat = reference.reshape(reference.shape[0], -1)
    threshold = 0 if labels else 0.1 * float(flat.max())
    area = (flat > threshold).sum(axis=1)
    return int(np.argmax(area)) if area.max() > 0 else reference.shape[0] // 2
