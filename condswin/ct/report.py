"""Volumetric liver report from a label map (0 background, 1 liver, 2 tumour).

Definitions (volumes from voxel counts × voxel volume; 1 mL = 1000 mm³):

* ``liver_ml``: the whole organ, liver parenchyma **and** tumours (labels 1 + 2), as liver volumetry for
  surgical planning reports it;
* ``liver_parenchyma_ml``: label 1 only;
* ``tumour_count`` / ``tumour_volumes_ml``: fully connected (26-neighbour) components of label 2, volumes
  largest first;
* ``tumour_burden_percent`` = total tumour volume / ``liver_ml`` × 100 (0 when there is no liver).

:func:`liver_notices` words what a user must know before trusting those numbers: a liver under
:data:`SMALL_LIVER_ML` means a scan that is not abdominal (a head, a chest above the liver) or shows only part
of the liver.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.postprocess import label_array
from condswin.io.atomic import write_json_atomic
from condswin.lits import LIVER, TUMOUR
from condswin.metrics.segmentation import dice

__all__ = ["SMALL_LIVER_ML", "liver_notices", "liver_report", "measures_against_reference", "save_report"]

# An adult liver holds about 1,000-2,500 mL; under this the scan is not abdominal or shows only part of it.
SMALL_LIVER_ML = 300.0


def liver_notices(report: dict[str, Any]) -> list[str]:
    """Warnings about a :func:`liver_report` (empty when the liver found is of a plausible size)."""
    liver_ml = float(report["liver_ml"])
    if liver_ml >= SMALL_LIVER_ML:
        return []
    found = "no liver was found" if liver_ml == 0 else f"the liver found is {liver_ml:.0f} mL"
    return [
        f"{found}, under {SMALL_LIVER_ML:.0f} mL (an adult liver holds about 1,000-2,500 mL): the scan may not be "
        "an abdominal CT, or shows only part of the liver; check its field of view before using these volumes"
    ]


def liver_report(labels: np.ndarray | sitk.Image, spacing: Sequence[float] | None = None) -> dict[str, Any]:
    """Measure liver and tumour volumes.

    Args:
        labels: a 3-D label map, as a SimpleITK image (its spacing is used) or a numpy array in
            (z, y, x) order together with ``spacing``.
        spacing: voxel spacing in mm in SimpleITK (x, y, z) order; required for numpy input, and must
            agree with the image when both are given.

    Returns:
        A JSON-serialisable dict: ``liver_ml``, ``liver_parenchyma_ml``, ``tumour_ml``, ``tumour_count``,
        ``tumour_volumes_ml`` (list, largest first), ``tumour_burden_percent``, ``voxel_volume_ml`` and
        ``spacing_mm`` (x, y, z), all plain Python numbers.

    Raises:
        ValueError: not 3-D, bad label values, or missing/disagreeing spacing.
    """
    array = label_array(labels)
    if array.ndim != 3:
        raise ValueError(f"liver_report needs a 3-D label map, got shape {array.shape}")
    spacing_xyz = _spacing_xyz(labels, spacing)
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0

    tumour = array == TUMOUR
    components, count = ndimage.label(tumour, structure=np.ones((3, 3, 3), dtype=bool))
    voxel_counts = np.bincount(components.ravel(), minlength=count + 1)[1:]
    tumour_volumes = sorted((float(n) * voxel_ml for n in voxel_counts), reverse=True)

    parenchyma_ml = float(np.count_nonzero(array == LIVER)) * voxel_ml
    tumour_ml = float(np.count_nonzero(tumour)) * voxel_ml
    liver_ml = parenchyma_ml + tumour_ml
    return {
        "liver_ml": liver_ml,
        "liver_parenchyma_ml": parenchyma_ml,
        "tumour_ml": tumour_ml,
        "tumour_count": int(count),
        "tumour_volumes_ml": tumour_volumes,
        "tumour_burden_percent": 100.0 * tumour_ml / liver_ml if liver_ml > 0 else 0.0,
        "voxel_volume_ml": voxel_ml,
        "spacing_mm": [float(s) for s in spacing_xyz],
    }


def measures_against_reference(
    predicted: np.ndarray | sitk.Image, reference: np.ndarray | sitk.Image, spacing: Sequence[float] | None = None
) -> dict[str, Any]:
    """The report's measures of a predicted label map beside those of its reference, as a reader checks them.

    Args:
        predicted / reference: 3-D LiTS label maps of one grid.
        spacing: (x, y, z) in mm, for numpy label maps (as :func:`liver_report`).

    Returns:
        ``liver_ml`` / ``reference_liver_ml`` and ``liver_volume_error_percent`` (signed, relative to the
        reference; None without a reference liver); ``tumour_count`` / ``reference_tumour_count`` (26-connected
        components); ``tumours_detected``: reference tumours that share at least one voxel with a predicted
        tumour, and ``tumour_detection_rate`` (None without reference tumours); ``organ_dice``: the Dice of the
        whole liver, liver and tumour labels together, as the LiTS challenge scores the liver (the per-class
        liver Dice counts label 1 only, so a tumour called liver, or liver called tumour, lowers it; None when
        neither map has any).
    """
    found, truth = liver_report(predicted, spacing), liver_report(reference, spacing)
    predicted_labels, reference_labels = label_array(predicted), label_array(reference)
    reference_tumours, count = ndimage.label(reference_labels == TUMOUR, structure=np.ones((3, 3, 3), dtype=bool))
    hit = np.unique(reference_tumours[(predicted_labels == TUMOUR) & (reference_tumours > 0)])
    truth_ml = truth["liver_ml"]
    organ, reference_organ = predicted_labels > 0, reference_labels > 0
    return {
        "liver_ml": found["liver_ml"],
        "reference_liver_ml": truth_ml,
        "liver_volume_error_percent": 100.0 * (found["liver_ml"] - truth_ml) / truth_ml if truth_ml > 0 else None,
        "tumour_count": found["tumour_count"],
        "reference_tumour_count": int(count),
        "tumours_detected": int(hit.size),
        "tumour_detection_rate": hit.size / count if count else None,
        "organ_dice": dice(organ, reference_organ) if organ.any() or reference_organ.any() else None,
    }


def save_report(report: dict[str, Any], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a report as indented JSON, atomically.

    Args:
        report: a dict from :func:`liver_report` (any JSON-serialisable dict).
        path: destination ``.json`` file.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        OutputExistsError: the file exists and ``overwrite`` is false.
    """
    return write_json_atomic(report, path, overwrite=overwrite)


def _spacing_xyz(labels: np.ndarray | sitk.Image, spacing: Sequence[float] | None) -> tuple[float, ...]:
    if isinstance(labels, sitk.Image):
        image_spacing = tuple(float(s) for s in labels.GetSpacing())
        if spacing is not None and not np.allclose(spacing, image_spacing, rtol=1e-6):
            raise ValueError(f"spacing {tuple(spacing)} disagrees with the image spacing {image_spacing}")
        return image_spacing
    if spacing is None:
        raise ValueError("liver_report needs the voxel spacing (x, y, z in mm) for a numpy label map")
    if len(spacing) != 3 or not all(float(s) > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers (x, y, z in mm), got {tuple(spacing)}")
    return tuple(float(s) for s in spacing)
