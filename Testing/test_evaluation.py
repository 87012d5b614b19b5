"""condswin.evaluation, the core every report uses: the slice a figure shows, label maps scored with absent
classes marked, rows as CSV / markdown / plain lines with one display per metric, and figures of panels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from condswin.evaluation import MetricRow, representative_slice, score_label_maps
from condswin.evaluation.figures import Panel, disagreement_overlay, draw_panels, label_overlay
from condswin.evaluation.tables import column, csv_text, rows_markdown, text_lines


def test_a_figure_shows_the_widest_object_or_the_most_foreground():
    volume = np.zeros((3, 20, 20), dtype=np.float32)
    volume[0, 6:14, 6:14] = 40.0  # small and bright: the most total signal
    volume[1, 2:18, 2:18] = 5.0  # the widest cross-section
    volume[2, 5:15, 5:15] = 5.0
    assert representative_slice(volume, labels=False) == 1
    labels = np.zeros((3, 20, 20), dtype=np.uint8)
    labels[2, 4:10, 4:10] = 1
    assert representative_slice(labels, labels=True) == 2
    assert representative_slice(np.zeros((5, 4, 4)), labels=True) == 2  # nothing anywhere: the middle


def test_a_label_map_shows_the_most_of_its_rarest_class():
    labels = np.zeros((4, 20, 20), dtype=np.uint8)
    labels[0, 2:18, 2:18] = 1  # the most foreground, liver only
    labels[3, 4:12, 4:12] = 1
    labels[3, 6:9, 6:9] = 2  # the only tumour
    assert representative_slice(labels, labels=True) == 3
    labels[labels == 2] = 1  # no tumour left: the most liver
    assert representative_slice(labels, labels=True) == 0
    other = np.zeros((3, 8, 8), dtype=np.int16)
    other[0, :, :4] = 7  # any label values: the rarest is 3, in slice 1
    other[1, :2, :2] = 3
    other[2, :, :2] = 7
    assert representative_slice(other, labels=True) == 1


def test_a_class_in_neither_map_is_absent_not_perfect():
    predicted = np.zeros((2, 6, 6), dtype=np.uint8)
    predicted[0, 1:4, 1:4] = 1
    reference = predicted.copy()
    scores = score_label_maps(predicted, reference, {1: "liver", 2: "tumour"}, hd95=False)
    assert scores["liver"]["dice"] == 1.0 and "absent" not in scores["liver"]
    assert scores["tumour"]["absent"] is True and scores["tumour"]["dice"] is None
    assert "hd95" not in scores["liver"]
    with_hd95 = score_label_maps(predicted, reference, {1: "liver"}, spacing=(2.0, 1.0, 1.0))
    assert with_hd95["liver"]["hd95"] == 0.0


def _rows() -> list[MetricRow]:
    return [
        MetricRow("a", "model", "4x", {"psnr": 30.123456, "ssim": 0.91234567, "nmse": float("nan")}, {"note": "x"}),
        MetricRow("b", "model", "4x", {"liver": {"dice": 0.5, "absent": False}, "tumour": {"dice": None}}),
        MetricRow("c", "not run", "", {}, {"note": ""}),
    ]


def test_rows_as_csv_keep_full_precision_and_flatten_classes():
    lines = csv_text(_rows()).splitlines()
    assert lines[0] == "case,method,setting,note,psnr,ssim,nmse,liver_dice,tumour_dice"
    assert lines[1] == "a,model,4x,x,30.123456,0.91234567,,,"  # NaN is an empty cell
    assert lines[2] == "b,model,4x,,,,,0.5,"
    assert lines[3] == "c,not run,,,,,,,"


def test_rows_as_markdown_show_each_metric_with_its_precision():
    columns = (("case", "case", ""), column("psnr"), column("ssim"), column("liver_dice", "dice", "Dice liver"))
    assert column("psnr") == ("psnr", "PSNR (dB)", ".2f")
    lines = rows_markdown(_rows(), columns).splitlines()
    assert lines[0] == "| case | PSNR (dB) | SSIM | Dice liver |"
    assert lines[2] == "| a | 30.12 | 0.9123 | – |"
    assert lines[3] == "| b | – | – | 0.5000 |"
    assert lines[4] == "| c | – | – | – |"
    with pytest.raises(KeyError):
        column("no-such-metric")


def test_plain_lines_for_an_image_and_per_class():
    (image,) = text_lines("pred.nii.gz", {"nmse": 0.01, "psnr": 31.0, "ssim": None, "mae": 2.0, "tp": 3})
    assert image == f"{'pred.nii.gz':<28} nmse 0.0100  psnr 31.0000  ssim -  mae 2.0000"
    per_class = text_lines(
        "p", {"liver": {"dice": 0.9, "hd95": 1.5, "tp": 4}, "tumour": {"dice": None, "absent": True}}
    )
    assert per_class == [
        f"{'p':<28} {'liver':<10} dice 0.9000  hd95 1.5000",
        f"{'p':<28} {'tumour':<10} absent from both prediction and reference",
    ]


def test_overlays_colour_labels_and_each_kind_of_disagreement():
    reference = np.array([[0, 1, 1, 2]])
    predicted = np.array([[1, 0, 1, 1]])  # a false positive, a miss, a hit, a wrong class
    rgba = disagreement_overlay(predicted, reference)
    assert rgba.shape == (1, 4, 4)
    red, blue, none, yellow = rgba[0]
    assert red[0] > 0.9 and red[2] < 0.5 and blue[2] > 0.9 and blue[0] < 0.5 and none[3] == 0.0
    assert yellow[0] > 0.9 and yellow[1] > 0.8 and yellow[2] < 0.5
    labels = label_overlay(np.array([[0, 1, 2, 9]]))
    assert labels[0, 0, 3] == 0.0 and not np.array_equal(labels[0, 1], labels[0, 2])
    assert np.array_equal(labels[0, 3], labels[0, 2])  # values past the palette take its last colour


def test_panels_leave_empty_cells_and_add_a_colour_scale_where_asked():
    image = np.arange(16.0).reshape(4, 4)
    figure = draw_panels(
        [[Panel("a", image), None], [Panel("b", image, cmap="magma", colorbar=True)]],
        "title",
        row_titles=["first", "second"],
    )
    assert len(figure.axes) == 2 * 2 + 1  # four cells and one colour bar
    first, empty, second = figure.axes[0], figure.axes[1], figure.axes[2]
    assert first.get_title() == "a" and first.get_ylabel() == "first" and second.get_ylabel() == "second"
    assert not empty.axison and not empty.images
    with pytest.raises(ValueError, match="no rows"):
        draw_panels([])
    assert math.isclose(figure.get_size_inches()[0], 2 * 3.1)
