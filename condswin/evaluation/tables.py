"""Metric rows as text: every row as CSV, the summary (mean ± std over volumes) as markdown, rows as a markdown
table or as plain lines. One display of each metric (heading, precision) for every report.

Means and spreads come from :func:`condswin.metrics.aggregate` over the per-volume rows of each
(method, setting): a volume counts once whatever its number of slices, the standard deviation is the
population one (as fastMRI's ``evaluate.py``), and undefined values (HD95 with one empty mask, a class
absent from both maps) are left out of the mean and counted instead.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from condswin.evaluation.rows import MetricRow
from condswin.metrics import MetricStats, aggregate

__all__ = [
    "COLUMNS",
    "IMAGE_METRICS",
    "LABEL_MAP_METRICS",
    "Column",
    "SummaryRow",
    "column",
    "csv_text",
    "flatten",
    "markdown_tables",
    "rows_markdown",
    "summarise_rows",
    "text_lines",
]

# (key, heading, format): a key names a metric, a row field (case, method, setting), a detail, or a flattened
# per-class metric (liver_dice); a format of "" shows the value as text.
Column = tuple[str, str, str]

# The heading and precision of every metric, wherever it is shown.
_DISPLAY: dict[str, tuple[str, str]] = {
    "mae": ("MAE", ".4g"),
    "nmse": ("NMSE", ".4f"),
    "psnr": ("PSNR (dB)", ".2f"),
    "ssim": ("SSIM", ".4f"),
    "seconds_per_slice": ("s/slice", ".4f"),
    "dice": ("Dice", ".4f"),
    "iou": ("IoU", ".4f"),
    "precision": ("Precision", ".4f"),
    "recall": ("Recall", ".4f"),
    "f1": ("F1", ".4f"),
    "hd95": ("HD95 (mm)", ".2f"),
}

# What condswin.metrics gives, in the order fastMRI (images) and the segmentation papers report them.
IMAGE_METRICS = ("nmse", "psnr", "ssim", "mae")
LABEL_MAP_METRICS = ("dice", "iou", "precision", "recall", "f1", "hd95")


def column(key: str, metric: str | None = None, heading: str | None = None) -> Column:
    """A table column of ``key`` with the heading and precision of ``metric`` (default: ``key`` itself).

    Raises:
        KeyError: a metric without a display.
    """
    name, fmt = _DISPLAY[metric or key]
    return key, heading or name, fmt


# The summary table of each task, in the order the papers report them.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "reconstruction": tuple(column(k) for k in ("mae", "nmse", "psnr", "ssim", "seconds_per_slice")),
    "denoising": tuple(column(k) for k in ("ssim", "psnr", "seconds_per_slice")),
    "segmentation": tuple(column(k) for k in ("dice", "iou", "precision", "f1", "hd95")),
}
_FIXED = ("case", "method", "setting")


@dataclass(frozen=True)
class SummaryRow:
    """The statistics of one method under one setting.

    Attributes:
        method / setting: as in the rows.
        cases: how many volumes were scored.
        stats: the :func:`condswin.metrics.aggregate` table (``{metric: MetricStats}`` or per class).
    """

    method: str
    setting: str
    cases: int
    stats: Mapping[str, Any]


def summarise_rows(rows: Sequence[MetricRow]) -> list[SummaryRow]:
    """One :class:`SummaryRow` per (setting, method), settings and methods in the order they were scored."""
    groups: dict[tuple[str, str], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row.setting, row.method), []).append(row)
    order = {setting: i for i, setting in enumerate(dict.fromkeys(row.setting for row in rows))}
    keys = sorted(groups, key=lambda key: order[key[0]])  # stable: methods keep their order within a setting
    return [
        SummaryRow(
            method, setting, len(groups[setting, method]), aggregate([r.metrics for r in groups[setting, method]])
        )
        for setting, method in keys
    ]


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"liver": {"dice": 0.9}}`` → ``{"liver_dice": 0.9}``; descriptive flags (``absent``) dropped."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}_"))
        elif key != "absent":
            flat[f"{prefix}{key}"] = value
    return flat


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any) -> str:
    if _undefined(value):
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision: the CSV is for recomputing, the markdown for reading
    return str(value)


def csv_text(rows: Sequence[MetricRow]) -> str:
    """Every row (case × method × setting) as CSV: case, method, setting, the details, then the metrics.

    Per-class metrics are flattened to ``<class>_<metric>`` columns; an undefined value is an empty cell.
    """
    details = list(dict.fromkeys(key for row in rows for key in row.details))
    flats = [flatten(row.metrics) for row in rows]
    metrics = list(dict.fromkeys(key for flat in flats for key in flat))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_FIXED, *details, *metrics])
    for row, flat in zip(rows, flats, strict=True):
        writer.writerow(
            [row.case, row.method, row.setting]
            + [_cell(row.details.get(key)) for key in details]
            + [_cell(flat.get(key)) for key in metrics]
        )
    return buffer.getvalue()


def _shown(value: Any, fmt: str) -> str:
    if _undefined(value):
        return "–"
    if fmt and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value) or "–"


def rows_markdown(rows: Sequence[MetricRow], columns: Sequence[Column]) -> str:
    """The rows themselves as one markdown table ("–" where a value is undefined or does not apply)."""
    lines = ["| " + " | ".join(heading for _, heading, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        values = {"case": row.case, "method": row.method, "setting": row.setting, **row.details}
        values.update(flatten(row.metrics))
        lines.append("| " + " | ".join(_shown(values.get(key), fmt) for key, _, fmt in columns) + " |")
    return "\n".join(lines) + "\n"


def _stat(stats: MetricStats | None, fmt: str, cases: int) -> str:
    if stats is None or stats.cases == 0:
        return "n/a"
    text = f"{stats.mean:{fmt}} ± {stats.std:{fmt}}"
    return text if stats.cases == cases else f"{text} ({stats.cases} of {cases})"


def _table(task: str, summary: Sequence[SummaryRow], per_class: str | None) -> list[str]:
    columns = COLUMNS[task]
    with_setting = any(row.setting for row in summary)
    head = ["Method", *(["Setting"] if with_setting else []), "Cases", *(title for _, title, _ in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary:
        stats = row.stats.get(per_class, {}) if per_class is not None else row.stats
        cells = [row.method, *([row.setting] if with_setting else []), str(row.cases)]
        cells += [_stat(stats.get(key), fmt, row.cases) for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_tables(task: str, summary: Sequence[SummaryRow], classes: Sequence[str] = ()) -> str:
    """The summary as markdown: one table (image tasks) or one per class (segmentation), mean ± std over cases.

    A cell reads ``mean ± std``, followed by ``(k of n)`` when only k of the n cases define the metric, or
    ``n/a`` when none does.
    """
    if task != "segmentation":
        return "\n".join(_table(task, summary, None)) + "\n"
    blocks = [f"### {name}\n\n" + "\n".join(_table(task, summary, name)) + "\n" for name in classes]
    return "\n".join(blocks)


def text_lines(name: str, metrics: Mapping[str, Any]) -> list[str]:
    """Plain lines for a terminal: one for an image's metrics, one per class of a label map's.

    Each line is ``name`` then ``metric value`` pairs (4 decimals, ``-`` where undefined); a class found in
    neither map reads ``absent from both prediction and reference``.
    """

    def value(number: float | None) -> str:
        return "-" if number is None else f"{number:.4f}"

    if not (metrics and all(isinstance(v, Mapping) for v in metrics.values())):
        return [f"{name:<28} " + "  ".join(f"{c} {value(metrics[c])}" for c in IMAGE_METRICS if c in metrics)]
    return [
        f"{name:<28} {cls:<10} "
        + (
            "absent from both prediction and reference"
            if values.get("absent")
            else "  ".join(f"{c} {value(values[c])}" for c in LABEL_MAP_METRICS if c in values)
        )
        for cls, values in metrics.items()
    ]
