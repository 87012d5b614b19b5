"""The figures of every report: rows of panels (an image, an optional colour overlay), drawn with matplotlib's
Agg canvas and written atomically as PNG.

A :class:`Panel` is one picture; :func:`draw_panels` lays rows of them out. Label maps are shown as colour
overlays (:func:`label_overlay`, one palette everywhere) and a prediction's errors as the disagreement with its
reference (:func:`disagreement_overlay`: false positives red, misses blue, confusions of classes yellow).
:func:`montage_figure` is the evaluation's montage of :class:`~condswin.evaluation.rows.MontageRow`.
matplotlib is imported when a figure is drawn, so the rest of the package works without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from condswin.errors import UsageError
from condswin.evaluation.rows import MontageRow
from condswin.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CT_DISPLAY_WINDOW",
    "ERROR_CMAP",
    "Panel",
    "disagreement_legend",
    "disagreement_overlay",
    "draw_panels",
    "label_legend",
    "label_overlay",
    "montage_figure",
    "new_figure",
    "save_figure",
]

# Abdominal soft-tissue window for showing CT (centre 40 HU, width 400 HU; display only, models use their card's).
CT_DISPLAY_WINDOW = (-160.0, 240.0)
# Label value → (colour name, RGBA); 0 is transparent, values above the last take the last colour.
_LABEL_COLOURS = (
    ("none", (0.0, 0.0, 0.0, 0.0)),
    ("orange", (0.85, 0.45, 0.35, 0.55)),
    ("yellow", (1.0, 0.9, 0.2, 0.8)),
)
# Kind of disagreement → (colour name, RGB).
_ERROR_COLOURS = {
    "false positive": ("red", (1.0, 0.15, 0.15)),
    "missed": ("blue", (0.2, 0.45, 1.0)),
    "wrong class": ("yellow", (1.0, 0.9, 0.2)),
}
# The colour map of absolute-error images.
ERROR_CMAP = "magma"


@dataclass(frozen=True)
class Panel:
    """One picture of a figure.

    Attributes:
        title: its heading.
        image: a 2-D array.
        cmap / vmin / vmax: how ``image`` is shown (matplotlib colour map and display range).
        overlay: an (H, W, 4) RGBA array drawn over ``image`` (:func:`label_overlay`, :func:`disagreement_overlay`).
        colorbar: draw the colour scale beside it.
    """

    title: str
    image: np.ndarray
    cmap: str = "gray"
    vmin: float | None = None
    vmax: float | None = None
    overlay: np.ndarray | None = None
    colorbar: bool = False


def label_overlay(labels: np.ndarray) -> np.ndarray:
    """A label map as RGBA: background transparent, each class in the palette's colour."""
    colours = np.array([rgba for _, rgba in _LABEL_COLOURS], dtype=np.float32)
    return colours[np.clip(labels.astype(np.int64), 0, len(colours) - 1)]


def label_legend(classes: Mapping[int, str]) -> str:
    """The palette in words for a figure's title: ``{1: "liver", 2: "tumour"}`` → ``orange liver, yellow tumour``."""
    last = len(_LABEL_COLOURS) - 1
    return ", ".join(f"{_LABEL_COLOURS[min(value, last)][0]} {name}" for value, name in classes.items())


def disagreement_overlay(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Where a label map differs from its reference, as RGBA: false positives red, misses blue, wrong class yellow."""
    rgba = np.zeros((*reference.shape, 4), dtype=np.float32)
    wrong = predicted != reference
    masks = {
        "false positive": wrong & (reference == 0),
        "missed": wrong & (predicted == 0),
        "wrong class": wrong & (reference > 0) & (predicted > 0),
    }
    for name, mask in masks.items():
        rgba[mask] = (*_ERROR_COLOURS[name][1], 1.0)
    return rgba


def disagreement_legend() -> str:
    """The colours of :func:`disagreement_overlay` in words, for a figure's title."""
    return ", ".join(f"{colour} {name}" for name, (colour, _) in _ERROR_COLOURS.items())


def new_figure(rows: int, cols: int, panel_size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows`` × ``cols`` axes, each about ``panel_size`` inches.

    A bare Figure uses the Agg canvas and never touches pyplot's global state or a display.

    Raises:
        UsageError: matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise UsageError(
            "figures are drawn with matplotlib, which is not installed: pip install matplotlib (make demo installs it)"
        ) from exc
    figure = Figure(figsize=(panel_size[0] * cols, panel_size[1] * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def draw_panels(
    rows: Sequence[Sequence[Panel | None]],
    title: str = "",
    *,
    panel_size: tuple[float, float] = (3.1, 3.2),
    fontsize: float = 9,
    row_titles: Sequence[str] = (),
) -> Figure:
    """Rows of panels in one figure (None, or a short row, leaves a cell empty).

    Args:
        rows: the panels, row by row.
        title: the figure's title.
        panel_size: inches per panel.
        fontsize: of the panel headings (the title is 2 points larger).
        row_titles: written beside the first panel of each row.

    Raises:
        UsageError: matplotlib is not installed.
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("draw_panels: no rows to show")
    columns = max(len(row) for row in rows)
    figure, axes = new_figure(len(rows), columns, panel_size)
    for r, row in enumerate(rows):
        for c in range(columns):
            ax: Any = axes[r][c]
            panel = row[c] if c < len(row) else None
            if panel is None:
                ax.axis("off")
                continue
            shown = ax.imshow(panel.image, cmap=panel.cmap, vmin=panel.vmin, vmax=panel.vmax)
            if panel.overlay is not None:
                ax.imshow(panel.overlay, interpolation="nearest")
            if panel.colorbar:
                figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            ax.set_title(panel.title, fontsize=fontsize)
            ax.set_xticks([])
            ax.set_yticks([])
        if r < len(row_titles):
            axes[r][0].set_ylabel(row_titles[r], fontsize=fontsize)
    if title:
        figure.suptitle(title, fontsize=fontsize + 2)
    return figure


def _montage_panels(row: MontageRow, methods: Sequence[str]) -> list[Panel | None]:
    if row.labels:
        low, high = CT_DISPLAY_WINDOW
        return [
            Panel(row.input_name, row.input, vmin=low, vmax=high),
            Panel("reference", row.input, vmin=low, vmax=high, overlay=label_overlay(row.reference)),
            *(Panel(m, row.input, vmin=low, vmax=high, overlay=label_overlay(row.outputs[m])) for m in methods),
            *(
                Panel(
                    f"errors {m}",
                    row.input,
                    vmin=low,
                    vmax=high,
                    overlay=disagreement_overlay(row.outputs[m], row.reference),
                )
                for m in methods
            ),
        ]
    top = float(np.max(row.reference)) or 1.0
    errors = [np.abs(row.outputs[m].astype(np.float64) - row.reference) for m in methods]
    # one scale per row, so the methods' error maps compare by eye
    scale = max(float(np.percentile(e, 99.5)) for e in errors) if errors else 0.0
    scale = scale if scale > 0 else top
    return [
        Panel(row.input_name, row.input, vmin=0, vmax=top),
        Panel("reference", row.reference, vmin=0, vmax=top),
        *(Panel(m, row.outputs[m], vmin=0, vmax=top) for m in methods),
        *(
            Panel(f"|error| {m} (0–{scale:.3g})", error, cmap=ERROR_CMAP, vmin=0, vmax=scale)
            for m, error in zip(methods, errors, strict=True)
        ),
    ]


def montage_figure(rows: Sequence[MontageRow], methods: Sequence[str], title: str = "") -> Figure:
    """The montage of representative slices: input, reference, each method, each method's errors.

    Label maps are drawn over the CT (:data:`CT_DISPLAY_WINDOW`), their errors as :func:`disagreement_overlay`;
    images share one grey scale per row, their absolute errors one colour scale per row.

    Args:
        rows: one per case and setting; every row has an output for every method.
        methods: method names, in column order.
        title: the figure's title.

    Returns:
        A figure with ``len(rows)`` × (2 + 2 × ``len(methods)``) panels.

    Raises:
        ValueError: no rows (nothing to show), or a row without one of the methods.
    """
    if not rows:
        raise ValueError("montage_figure: no rows to show")
    for row in rows:
        missing = [m for m in methods if m not in row.outputs]
        if missing:
            raise ValueError(f"montage_figure: row {row.title!r} has no output of {', '.join(missing)}")
    return draw_panels(
        [_montage_panels(row, methods) for row in rows],
        title,
        panel_size=(2.2, 2.3),
        fontsize=7,
        row_titles=[row.title for row in rows],
    )


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write ``figure`` as a PNG atomically (:func:`condswin.io.atomic.atomic_path`).

    Raises:
        OutputError: the file cannot be written.
    """
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
