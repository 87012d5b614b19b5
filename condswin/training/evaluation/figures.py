"""The figures of an evaluation (matplotlib, Agg backend, no display needed), written atomically as PNG.

* Montage: one row per case and setting; columns input, reference, each method,
  then each method's error map (absolute error on one colour scale per row for images; for label maps the
  disagreement: false positives red, misses blue, liver/tumour confusions yellow).
* Training curves: train loss (per step and per epoch), validation loss and the monitored metric vs step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from condswin.training.evaluation.curves import TrainingLog
from condswin.training.evaluation.records import MontageRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["montage_figure", "curves_figure", "save_figure", "CT_DISPLAY_WINDOW"]

# Abdominal soft-tissue window for showing CT (display only; models use their card's window).
CT_DISPLAY_WINDOW = (-160.0, 240.0)
_LABEL_COLOURS = ((0.0, 0.0, 0.0, 0.0), (0.85, 0.45, 0.35, 0.55), (1.0, 0.9, 0.2, 0.8))  # none, liver, tumour
_ERROR_COLOURS = {"false positive": (1.0, 0.15, 0.15), "missed": (0.2, 0.45, 1.0), "wrong class": (1.0, 0.9, 0.2)}


def _new_figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure

    # A bare Figure uses the Agg canvas and never touches pyplot's global state or a display.
    figure = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def _labels_rgba(labels: np.ndarray) -> np.ndarray:
    colours = np.array(_LABEL_COLOURS, dtype=np.float32)
    return colours[np.clip(labels.astype(np.int64), 0, len(colours) - 1)]


def _errors_rgba(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    rgba = np.zeros((*reference.shape, 4), dtype=np.float32)
    wrong = predicted != reference
    masks = {
        "false positive": wrong & (reference == 0),
        "missed": wrong & (predicted == 0),
        "wrong class": wrong & (reference > 0) & (predicted > 0),
    }
    for name, mask in masks.items():
        rgba[mask] = (*_ERROR_COLOURS[name], 1.0)
    return rgba


def _ct_grey(ct: np.ndarray) -> np.ndarray:
    low, high = CT_DISPLAY_WINDOW
    return np.clip((ct - low) / (high - low), 0.0, 1.0)


def montage_figure(rows: Sequence[MontageRow], methods: Sequence[str], title: str = "") -> Figure:
    """The montage of representative slices.

    Args:
        rows: one per case and setting (see :class:`MontageRow`); every row has an output for every method.
        methods: method names, in column order.
        title: the figure's title.

    Returns:
        A figure with ``len(rows)`` × (2 + 2 × ``len(methods)``) panels.

    Raises:
        ValueError: no rows (nothing to show), or a row without one of the methods.
    """
    if not rows:
        raise ValueError("montage_figure: no rows to show")
    columns = 2 + 2 * len(methods)
    figure, axes = _new_figure(len(rows), columns, (2.2, 2.3))
    for r, row in enumerate(rows):
        missing = [m for m in methods if m not in row.outputs]
        if missing:
            raise ValueError(f"montage_figure: row {row.title!r} has no output of {', '.join(missing)}")
        line = axes[r]
        if row.labels:
            grey = _ct_grey(row.input)
            line[0].imshow(grey, cmap="gray", vmin=0, vmax=1)
            for ax, labels in zip(line[1 : 2 + len(methods)], [row.reference, *row.outputs.values()], strict=True):
                ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
                ax.imshow(_labels_rgba(labels), interpolation="nearest")
            for ax, method in zip(line[2 + len(methods) :], methods, strict=True):
                ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
                ax.imshow(_errors_rgba(row.outputs[method], row.reference), interpolation="nearest")
            error_scale = ""
        else:
            top = float(np.max(row.reference)) or 1.0
            for ax, image in zip(
                line[: 2 + len(methods)], [row.input, row.reference, *(row.outputs[m] for m in methods)], strict=True
            ):
                ax.imshow(image, cmap="gray", vmin=0, vmax=top)
            errors = [np.abs(row.outputs[m].astype(np.float64) - row.reference) for m in methods]
            # one scale per row, so the methods' error maps compare by eye
            scale = max(float(np.percentile(e, 99.5)) for e in errors) if errors else 0.0
            scale = scale if scale > 0 else top
            for ax, error in zip(line[2 + len(methods) :], errors, strict=True):
                ax.imshow(error, cmap="magma", vmin=0, vmax=scale)
            error_scale = f" (0–{scale:.3g})"
        headings = [row.input_name, "reference", *methods, *(f"|error| {m}{error_scale}" for m in methods)]
        if row.labels:
            headings[2 + len(methods) :] = [f"errors {m}" for m in methods]
        for ax, heading in zip(line, headings, strict=True):
            ax.set_title(heading, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        line[0].set_ylabel(row.title, fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def curves_figure(log: TrainingLog, monitor: str | None = None, title: str = "") -> Figure:
    """Training curves: train loss, validation loss and the monitored metric against the step.

    Args:
        log: from :func:`condswin.training.evaluation.curves.read_training_log`.
        monitor: the metric of the third panel (None: the task's monitored metric found in the log).
        title: the figure's title.

    Returns:
        A figure with three panels (a panel whose values were never logged says so).

    Raises:
        UsageError: ``monitor`` was never logged.
    """
    monitored = log.monitored(monitor)
    figure, axes = _new_figure(1, 3, (4.0, 3.0))
    panels = (
        ("train loss", (("train_loss_step", "per step", "-"), ("train_loss_epoch", "per epoch", "o-"))),
        ("validation loss", (("val_loss", "val_loss", "o-"),)),
        (monitored or "monitored metric", ((monitored, monitored, "o-"),) if monitored else ()),
    )
    for ax, (heading, lines) in zip(axes[0], panels, strict=True):
        drawn = False
        for column, label, style in lines:
            if log.has(column):
                steps, values = log.series[column]
                ax.plot(steps, values, style, label=label, markersize=3, linewidth=1)
                drawn = True
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
        ax.set_title(heading, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write ``figure`` as a PNG atomically (:func:`condswin.io.atomic.atomic_path`).

    Raises:
        OutputError: the file cannot be written.
    """
    from condswin.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
