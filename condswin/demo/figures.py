"""One PNG per job: the input, the reference, the outputs, and their error maps (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from condswin.errors import UsageError
from condswin.io.atomic import atomic_path

__all__ = ["Panel", "save_figure"]


@dataclass(frozen=True)
class Panel:
    """One image of a figure: a 2-D array, its colour map and display range, an optional label overlay."""

    title: str
    image: np.ndarray
    cmap: str = "gray"
    vmin: float | None = None
    vmax: float | None = None
    overlay: np.ndarray | None = None  # integer labels drawn semi-transparently over ``image``


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise UsageError(
            "the demo draws its figures with matplotlib, which is not installed: pip install matplotlib "
            "(make demo installs it)"
        ) from exc
    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def save_figure(path: str | os.PathLike, rows: list[list[Panel | None]], title: str) -> Path:
    """Draw rows of panels into one PNG, written atomically (None leaves a cell empty)."""
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    labels_cmap = ListedColormap([(0, 0, 0, 0), (0.2, 0.8, 0.2, 0.45), (0.95, 0.15, 0.15, 0.7)])
    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(3.1 * columns, 3.2 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.axis("off")
            panel = row[c] if c < len(row) else None
            if panel is None:
                continue
            shown = ax.imshow(panel.image, cmap=panel.cmap, vmin=panel.vmin, vmax=panel.vmax)
            if panel.overlay is not None:
                ax.imshow(np.clip(panel.overlay, 0, 2), cmap=labels_cmap, vmin=0, vmax=2, interpolation="nearest")
            elif panel.cmap != "gray":
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            ax.set_title(panel.title, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        plt.close(fig)
    return path
