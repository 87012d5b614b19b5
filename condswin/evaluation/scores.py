"""Scoring a label map against its reference the one way every report does it.

The metrics themselves are :mod:`condswin.metrics`'; what is decided here is that a class found in neither
map is reported as absent (:func:`condswin.metrics.mark_absent`), never as a perfect score, so a mean over
volumes is not lifted by classes that are simply not there. Images need no such rule: their scores are
:func:`condswin.metrics.reconstruction_metrics` as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# `condswin --help` imports this module (through `condswin evaluate`): the metrics (scipy) are imported where they
# are used (lazy).

__all__ = ["score_label_maps"]


def score_label_maps(
    predicted: Any,
    reference: Any,
    labels: Mapping[int, str] | None = None,
    spacing: Sequence[float] | None = None,
    hd95: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per-class Dice, IoU, precision, recall, F1, HD95 and counts, classes absent from both maps marked absent.

    Args:
        predicted / reference: integer label maps of one shape.
        labels: label value → class name (None: :func:`condswin.metrics.segmentation_metrics`' default).
        spacing: voxel size per array axis in mm, so HD95 is in mm.
        hd95: compute the 95 % Hausdorff distance (the slow metric).

    Returns:
        ``{class: {"dice", ..., "tp", "fp", "fn"}}``; an absent class has ``None`` metrics and ``"absent": True``.
    """
    from condswin.metrics import mark_absent, segmentation_metrics  # lazy: scipy (see top)

    return mark_absent(segmentation_metrics(predicted, reference, labels=labels, spacing=spacing, with_hd95=hd95))
