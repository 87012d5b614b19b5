"""Segmentation metrics per class: Dice, IoU, precision, recall, F1 and the 95th-percentile Hausdorff distance.

Empty masks are defined explicitly, so averages over a data set never hit a silent 0/0:

- prediction and reference both empty: Dice = IoU = precision = recall = F1 = 1 and HD95 = 0 (perfect
  agreement that the structure is absent, e.g. no tumour in a tumour-free slice);
- otherwise a ratio whose denominator is zero is 0 (scikit-learn's ``zero_division=0``): an empty prediction
  has precision 0, an empty reference has recall 0; Dice, IoU and F1 are then 0 by their formulas;
- HD95 when exactly one of the two is empty: ``nan`` (there is no surface to measure to). Average HD95 with
  ``numpy.nanmean`` and report how many cases were ``nan``.

HD95 follows MONAI's ``compute_hausdorff_distance(..., percentile=95)``: surface voxels are the mask minus
its binary erosion (face connectivity; the array border counts as background), distances are Euclidean
between surface voxels with the voxel ``spacing`` (one value per array axis, in mm), and the result is the
larger of the two directed 95th percentiles. F1 equals Dice for binary masks; both are reported because the
works compared in docs/benchmarks.md quote one or the other (LinTUNet F1, the Conditional Swin U-Net notebook
Dice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt

from condswin.lits import LITS_CLASSES
from condswin.metrics._arrays import to_numpy

__all__ = ["dice", "iou", "precision", "recall", "f1", "hd95", "segmentation_metrics"]


def _binary_pair(pred: Any, ref: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    pred_arr = to_numpy(pred, metric)
    ref_arr = to_numpy(ref, metric)
    if pred_arr.shape != ref_arr.shape:
        raise ValueError(f"{metric}: prediction shape {pred_arr.shape} and reference shape {ref_arr.shape} differ")
    return pred_arr.astype(bool), ref_arr.astype(bool)


def _counts(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    tp = int(np.count_nonzero(pred & ref))
    fp = int(np.count_nonzero(pred & ~ref))
    fn = int(np.count_nonzero(~pred & ref))
    return tp, fp, fn


def _ratio(num: int, denom: int, both_empty: bool) -> float:
    if both_empty:
        return 1.0
    return num / denom if denom else 0.0


def dice(pred: Any, ref: Any) -> float:
    """Dice 2|P∩R| / (|P| + |R|) of two binary masks (1.0 when both are empty)."""
    p, r = _binary_pair(pred, ref, "dice")
    tp, fp, fn = _counts(p, r)
    return _ratio(2 * tp, 2 * tp + fp + fn, tp + fp + fn == 0)


def iou(pred: Any, ref: Any) -> float:
    """Intersection over union (Jaccard) of two binary masks (1.0 when both are empty)."""
    p, r = _binary_pair(pred, ref, "iou")
    tp, fp, fn = _counts(p, r)
    return _ratio(tp, tp + fp + fn, tp + fp + fn == 0)


def precision(pred: Any, ref: Any) -> float:
    """TP / (TP + FP): 1.0 when both masks are empty, 0.0 for an empty prediction of a non-empty reference."""
    p, r = _binary_pair(pred, ref, "precision")
    tp, fp, fn = _counts(p, r)
    return _ratio(tp, tp + fp, tp + fp + fn == 0)


def recall(pred: Any, ref: Any) -> float:
    """TP / (TP + FN) (sensitivity): 1.0 when both masks are empty, 0.0 when only the reference is empty."""
    p, r = _binary_pair(pred, ref, "recall")
    tp, fp, fn = _counts(p, r)
    return _ratio(tp, tp + fn, tp + fp + fn == 0)


def f1(pred: Any, ref: Any) -> float:
    """F1 = harmonic mean of precision and recall; equal to Dice for binary masks."""
    return dice(pred, ref)


def _check_spacing(spacing: Sequence[float] | None, ndim: int, metric: str) -> tuple[float, ...] | None:
    if spacing is None:
        return None
    values = tuple(float(s) for s in np.atleast_1d(np.asarray(spacing, dtype=float)))
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{metric}: spacing must be {ndim} positive numbers (one per array axis), got {spacing}")
    return values


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~binary_erosion(mask, border_value=0)


def hd95(pred: Any, ref: Any, spacing: Sequence[float] | None = None, percentile: float = 95.0) -> float:
    """Symmetric percentile Hausdorff distance between the surfaces of two binary masks.

    Args:
        pred: predicted binary mask (any number of dims).
        ref: reference binary mask, same shape.
        spacing: voxel size per array axis (e.g. mm); None means 1 (distances in voxels).
        percentile: 95 for HD95; 100 gives the classic Hausdorff distance.

    Returns:
        The distance; 0.0 when both masks are empty, ``nan`` when exactly one is.
    """
    p, r = _binary_pair(pred, ref, "hd95")
    sampling = _check_spacing(spacing, p.ndim, "hd95")
    if not 0 <= percentile <= 100:
        raise ValueError(f"hd95: percentile must lie in [0, 100], got {percentile}")
    has_p, has_r = bool(p.any()), bool(r.any())
    if not has_p and not has_r:
        return 0.0
    if not has_p or not has_r:
        return float("nan")
    # the distance transform only needs the union's bounding box plus one voxel of background around it
    coords = np.argwhere(p | r)
    lo = np.maximum(coords.min(axis=0) - 1, 0)
    hi = np.minimum(coords.max(axis=0) + 2, p.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=False))
    surface_p, surface_r = _surface(p[box]), _surface(r[box])
    to_r = distance_transform_edt(~surface_r, sampling=sampling)[surface_p]
    to_p = distance_transform_edt(~surface_p, sampling=sampling)[surface_r]
    return float(max(np.percentile(to_r, percentile), np.percentile(to_p, percentile)))


def segmentation_metrics(
    pred: Any,
    ref: Any,
    labels: Mapping[int, str] | None = None,
    spacing: Sequence[float] | None = None,
    with_hd95: bool = True,
) -> dict[str, dict[str, float]]:
    """Per-class metrics of a label map against a reference label map.

    Args:
        pred: predicted integer label map (2-D slice or 3-D volume).
        ref: reference label map, same shape.
        labels: label value → class name; default :data:`condswin.lits.LITS_CLASSES` (1 liver, 2 tumour).
            Each class is compared as ``label == value``: tumour voxels do not count as liver.
        spacing: voxel size per array axis in mm, so HD95 is in mm (voxels when None).
        with_hd95: skip the distance transform when False (HD95 then absent from the result).

    Returns:
        ``{name: {"dice", "iou", "precision", "recall", "f1", "hd95", "tp", "fp", "fn"}}``; the counts let a
        caller pool a data set (global Dice) as well as average per case. Empty-mask rules: module docstring.
    """
    pred_arr = to_numpy(pred, "segmentation_metrics")
    ref_arr = to_numpy(ref, "segmentation_metrics")
    if pred_arr.shape != ref_arr.shape:
        raise ValueError(
            f"segmentation_metrics: prediction shape {pred_arr.shape} and reference shape {ref_arr.shape} differ"
        )
    for name, arr in (("prediction", pred_arr), ("reference", ref_arr)):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValueError(f"segmentation_metrics: {name} must be an integer label map, got dtype {arr.dtype}")
    labels = dict(LITS_CLASSES if labels is None else labels)
    sampling = _check_spacing(spacing, pred_arr.ndim, "segmentation_metrics")
    results: dict[str, dict[str, float]] = {}
    for value, name in labels.items():
        p, r = pred_arr == value, ref_arr == value
        tp, fp, fn = _counts(p, r)
        both_empty = tp + fp + fn == 0
        entry: dict[str, float] = {
            "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
            "iou": _ratio(tp, tp + fp + fn, both_empty),
            "precision": _ratio(tp, tp + fp, both_empty),
            "recall": _ratio(tp, tp + fn, both_empty),
        }
        entry["f1"] = entry["dice"]
        if with_hd95:
            entry["hd95"] = hd95(p, r, spacing=sampling)
        entry.update(tp=tp, fp=fp, fn=fn)
        results[name] = entry
    return results
