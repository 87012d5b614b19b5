"""condswin.metrics.aggregate: mean/std/counts over cases, nested per-class tables, absent classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from condswin.metrics import MetricStats, aggregate, mark_absent, means, segmentation_metrics, summarise
from condswin.metrics.aggregate import to_json


def test_summarise_skips_nan_and_none_and_counts_them():
    stats = summarise([1.0, 3.0, float("nan"), None, 2])
    assert stats == MetricStats(mean=2.0, std=pytest.approx(np.std([1.0, 3.0, 2.0])), cases=3, missing=2)
    empty = summarise([None, float("nan")])
    assert math.isnan(empty.mean) and math.isnan(empty.std) and (empty.cases, empty.missing) == (0, 2)


def test_aggregate_reduces_flat_and_per_class_cases_over_the_keys_each_case_has():
    recon = aggregate([{"psnr": 30.0, "ssim": 0.9}, {"psnr": 34.0, "ssim": 0.7}])
    assert means(recon) == {"psnr": 32.0, "ssim": pytest.approx(0.8)}
    assert recon["psnr"].std == pytest.approx(2.0)  # population std, as fastMRI
    segmentation = aggregate(
        [
            {"liver": {"dice": 0.9, "hd95": 2.0}, "tumour": {"dice": 0.5, "hd95": float("nan")}, "file": "a"},
            {"liver": {"dice": 0.7}, "tumour": {"dice": 0.7, "hd95": 4.0}, "file": "b"},
        ]
    )
    assert list(segmentation) == ["liver", "tumour"]  # descriptions are not metrics
    assert segmentation["liver"]["dice"].mean == pytest.approx(0.8)
    assert segmentation["liver"]["hd95"] == MetricStats(2.0, 0.0, 1, 0)  # only the case that has it
    assert segmentation["tumour"]["hd95"] == MetricStats(4.0, 0.0, 1, 1)
    assert to_json(segmentation)["tumour"]["dice"] == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(0.1),
        "cases": 2,
        "missing": 0,
    }
    assert aggregate([]) == {}


def test_a_class_absent_from_both_maps_is_missing_not_a_perfect_score():
    pred = np.zeros((4, 8, 8), dtype=np.uint8)
    pred[1:3, 2:6, 2:6] = 1
    case_with_tumour = segmentation_metrics(pred, pred * 2, labels={1: "liver", 2: "tumour"}, with_hd95=False)
    case_without = segmentation_metrics(pred, pred, labels={1: "liver", 2: "tumour"}, with_hd95=False)
    assert case_without["tumour"]["dice"] == 1.0  # the per-case convention for empty-empty
    marked = mark_absent(case_without)
    assert marked["tumour"]["absent"] is True and marked["tumour"]["dice"] is None
    assert marked["tumour"]["tp"] == 0 and marked["liver"] == case_without["liver"]
    table = aggregate([mark_absent(case_with_tumour), marked])
    assert table["tumour"]["dice"] == MetricStats(0.0, 0.0, 1, 1)  # not the mean of 0.0 and 1.0
    assert table["liver"]["dice"].mean == pytest.approx(0.5)
    assert mark_absent({"x": {"dice": 1.0}}) == {"x": {"dice": 1.0}}  # no counts: nothing to decide from
