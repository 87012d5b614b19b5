"""The CSV log of a training run (Lightning's CSVLogger, ``<run>/logs/version_N/metrics.csv``) as series, and
its figure: train loss, validation loss and the monitored metric against the step.

A resumed run logs into a new ``version_N`` folder with steps that continue the earlier ones, so a run folder's
logs are read in version order and joined. Rows are sparse (Lightning writes one row per logging call, with
empty cells for the other columns), so each column keeps only the rows that have a value.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from condswin.errors import InputError, InputNotFoundError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TrainingLog", "find_log_files", "read_training_log", "curves_figure", "MONITOR_CANDIDATES"]

# What each task module monitors (condswin.training.modules: val_dice for segmentation, val_ssim otherwise).
MONITOR_CANDIDATES = ("val_dice", "val_ssim", "val_psnr")


@dataclass(frozen=True)
class TrainingLog:
    """Logged values per column.

    Attributes:
        sources: the CSV files read, in order.
        series: column → ``(steps, values)``, sorted by step, only the rows where the column has a value.
    """

    sources: tuple[Path, ...]
    series: dict[str, tuple[list[float], list[float]]]

    def has(self, column: str) -> bool:
        """True when the column has at least one value."""
        return bool(self.series.get(column, ((), ()))[0])

    def monitored(self, requested: str | None = None) -> str | None:
        """The metric to plot beside the losses: ``requested`` if logged, else the first logged candidate.

        Raises:
            UsageError: ``requested`` was never logged (the message lists the ``val_*`` columns that were).
        """
        if requested is not None:
            if not self.has(requested):
                logged = ", ".join(c for c in self.series if c.startswith("val_")) or "none"
                raise UsageError(f"--monitor {requested}: not in the log {self.sources[-1]} (val_* columns: {logged})")
            return requested
        return next((c for c in MONITOR_CANDIDATES if self.has(c)), None)


def _version(path: Path) -> tuple[int, str]:
    match = re.fullmatch(r"version_(\d+)", path.parent.name)
    return (int(match.group(1)) if match else -1, str(path))


def find_log_files(path: str | os.PathLike) -> list[Path]:
    """The CSV logs of a run: ``path`` itself when it is a file, else every ``metrics.csv`` below it.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        InputError: a folder without any ``metrics.csv``.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such run folder or CSV log (--curves)")
    if path.is_file():
        return [path]
    files = sorted(path.rglob("metrics.csv"), key=_version)
    if not files:
        raise InputError(f"{path}: no metrics.csv below this folder (a run writes logs/version_N/metrics.csv)")
    return files


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_training_log(path: str | os.PathLike) -> TrainingLog:
    """Read a run folder's (or one) CSV log.

    Raises:
        InputNotFoundError / InputError: no log, an unreadable file, no ``step`` column, or no ``train_loss``.
    """
    files = find_log_files(path)
    points: dict[str, list[tuple[float, float]]] = {}
    for file in files:
        try:
            with open(file, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if reader.fieldnames is None or "step" not in reader.fieldnames:
                    raise InputError(f"{file}: not a Lightning CSV log (no 'step' column)")
                for record in reader:
                    step = _number(record.get("step") or "")
                    if step is None:
                        continue
                    for column, text in record.items():
                        value = None if column in ("step", None) else _number(text or "")
                        if value is not None:
                            points.setdefault(column, []).append((step, value))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"{file}: cannot be read as a CSV log ({exc})") from None
    if not any(column.startswith("train_loss") for column in points):
        raise InputError(f"{files[-1]}: no train_loss column: not the log of a condswin training run")
    series = {}
    for column, pairs in points.items():
        pairs.sort(key=lambda pair: pair[0])
        series[column] = ([s for s, _ in pairs], [v for _, v in pairs])
    return TrainingLog(tuple(files), series)


def curves_figure(log: TrainingLog, monitor: str | None = None, title: str = "") -> Figure:
    """Training curves: train loss, validation loss and the monitored metric against the step.

    Args:
        log: from :func:`read_training_log`.
        monitor: the metric of the third panel (None: the task's monitored metric found in the log).
        title: the figure's title.

    Returns:
        A figure with three panels (a panel whose values were never logged says so); write it with
        :func:`condswin.evaluation.figures.save_figure`.

    Raises:
        UsageError: ``monitor`` was never logged, or matplotlib is not installed.
    """
    from condswin.evaluation.figures import new_figure

    monitored = log.monitored(monitor)
    figure, axes = new_figure(1, 3, (4.0, 3.0))
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
