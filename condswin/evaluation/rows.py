"""What scoring yields: a metric row per method, volume and setting, and the slices a montage shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MetricRow", "MontageRow"]


@dataclass(frozen=True)
class MetricRow:
    """The metrics of one method on one whole volume under one setting.

    The field names are those a model card's ``metrics.held_out`` records keep per volume
    (``case``, ``method``, ``setting``, ``metrics``), so a row is written there as it is.

    Attributes:
        case: the scored volume's name (a case id, a file name, a sample).
        method: the method's name (a model's card id, a baseline, ``noisy input``).
        setting: the condition (``"4x"``, ``"rician sigma=0.05"``; ``""`` where there is one).
        metrics: images ``{"nmse", "psnr", "ssim", "mae", ...}`` (:func:`condswin.metrics.reconstruction_metrics`);
            label maps ``{class: {"dice", ...}}`` as :func:`condswin.evaluation.scores.score_label_maps` gives them;
            empty for a method that did not run.
        details: descriptive columns (the acceleration a mask achieved, the σ a classical method used, a note).
    """

    case: str
    method: str
    setting: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MontageRow:
    """One row of a montage: a representative slice of one case under one setting.

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
