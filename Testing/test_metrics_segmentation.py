"""Per-class segmentation metrics and HD95: closed forms, MONAI's HD95, and the documented empty-mask cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from condswin.metrics import dice, f1, hd95, iou, precision, recall, segmentation_metrics


def _labels():
    ref = np.zeros((6, 30, 30), np.uint8)
    ref[1:5, 5:25, 5:25] = 1
    ref[2:4, 10:14, 10:14] = 2
    pred = np.zeros_like(ref)
    pred[1:5, 6:26, 5:25] = 1
    pred[2:4, 11:15, 10:14] = 2
    return pred, ref


def test_overlap_metrics_match_counts():
    pred, ref = _labels()
    out = segmentation_metrics(pred, ref, spacing=(2.0, 0.8, 0.8))
    assert set(out) == {"liver", "tumour"}
    for value, name in ((1, "liver"), (2, "tumour")):
        p, r = pred == value, ref == value
        tp, fp, fn = (p & r).sum(), (p & ~r).sum(), (~p & r).sum()
        m = out[name]
        assert (m["tp"], m["fp"], m["fn"]) == (tp, fp, fn)
        assert m["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert m["iou"] == pytest.approx(tp / (tp + fp + fn))
        assert m["precision"] == pytest.approx(tp / (tp + fp))
        assert m["recall"] == pytest.approx(tp / (tp + fn))
        assert m["f1"] == pytest.approx(2 * m["precision"] * m["recall"] / (m["precision"] + m["recall"]))
        assert dice(p, r) == m["dice"] and iou(p, r) == m["iou"] and f1(p, r) == m["dice"]
        assert precision(p, r) == m["precision"] and recall(p, r) == m["recall"]
    # the tumour is not counted as liver: liver voxels are label == 1 only
    assert out["liver"]["tp"] == ((pred == 1) & (ref == 1)).sum()


def test_hd95_matches_monai_with_anisotropic_spacing():
    from monai.metrics import compute_hausdorff_distance

    rng = np.random.default_rng(0)
    for _trial in range(3):
        ref = np.zeros((12, 40, 36), bool)
        ref[2:10, 8:30, 6:28] = True
        pred = np.roll(ref, shift=(1, rng.integers(-3, 4), rng.integers(-3, 4)), axis=(0, 1, 2))
        pred[rng.integers(0, 12), rng.integers(0, 40), rng.integers(0, 36)] = True  # an outlier voxel
        spacing = (2.5, 0.7, 0.9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = compute_hausdorff_distance(
                torch.from_numpy(pred)[None, None],
                torch.from_numpy(ref)[None, None],
                include_background=True,
                percentile=95,
                spacing=spacing,
            ).item()
        assert hd95(pred, ref, spacing=spacing) == pytest.approx(expected, rel=1e-5)


def test_hd95_known_distance_and_border_objects():
    ref = np.zeros((20, 20), bool)
    ref[:, :10] = True  # touches the image border
    pred = np.zeros_like(ref)
    pred[:, :13] = True
    # surfaces are the outer columns/rows; the 95th percentile is dominated by the 3-column shift
    assert hd95(pred, ref, percentile=100) == pytest.approx(3.0)
    assert hd95(pred, ref, spacing=(1.0, 2.0), percentile=100) == pytest.approx(6.0)
    assert hd95(ref, ref) == 0.0


def test_empty_mask_conventions():
    empty = np.zeros((8, 8), np.uint8)
    some = empty.copy()
    some[2:5, 2:5] = 1
    both_empty = segmentation_metrics(empty, empty, labels={1: "liver"})["liver"]
    assert {k: both_empty[k] for k in ("dice", "iou", "precision", "recall", "f1", "hd95")} == {
        "dice": 1.0,
        "iou": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "hd95": 0.0,
    }
    missed = segmentation_metrics(empty, some, labels={1: "liver"})["liver"]  # prediction empty
    assert missed["dice"] == 0.0 and missed["precision"] == 0.0 and missed["recall"] == 0.0
    assert math.isnan(missed["hd95"])
    false_alarm = segmentation_metrics(some, empty, labels={1: "liver"})["liver"]  # reference empty
    assert false_alarm["dice"] == 0.0 and false_alarm["recall"] == 0.0 and false_alarm["precision"] == 0.0
    assert math.isnan(false_alarm["hd95"])


def test_without_hd95_and_custom_labels():
    pred, ref = _labels()
    out = segmentation_metrics(pred, ref, labels={2: "lesion"}, with_hd95=False)
    assert list(out) == ["lesion"] and "hd95" not in out["lesion"]


@pytest.mark.parametrize(
    "pred, ref, kwargs, message",
    [
        (np.zeros((4, 4), int), np.zeros((4, 5), int), {}, "differ"),
        (np.zeros((4, 4), float), np.zeros((4, 4), int), {}, "integer label map"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), {"spacing": (1.0, 1.0, 1.0)}, "spacing"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), {"spacing": (1.0, -1.0)}, "spacing"),
    ],
)
def test_bad_input(pred, ref, kwargs, message):
    with pytest.raises(ValueError, match=message):
        segmentation_metrics(pred, ref, **kwargs)
