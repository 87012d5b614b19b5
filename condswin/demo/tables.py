"""The demo's metrics table: one row per method of each job, written as markdown and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields

__all__ = ["MetricRow", "to_csv", "to_markdown"]


@dataclass(frozen=True)
class MetricRow:
    """One method of one job. ``kind``: ``input``, ``baseline``, ``model``, or ``not run`` (no model).

    Metrics are None where they do not apply; PSNR in dB, NMSE and SSIM as fastMRI computes them (per volume).
    """

    job: str
    method: str
    kind: str
    dice_liver: float | None = None
    dice_tumour: float | None = None
    psnr_db: float | None = None
    ssim: float | None = None
    nmse: float | None = None
    seconds: float | None = None
    note: str = ""


_DIGITS = {"dice_liver": 4, "dice_tumour": 4, "psnr_db": 2, "ssim": 4, "nmse": 5, "seconds": 1}


def _cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{_DIGITS.get(name, 4)}f}"
    return str(value)


def to_csv(rows: list[MetricRow]) -> str:
    """Rows as CSV with a header line (empty cells where a metric does not apply)."""
    names = [f.name for f in fields(MetricRow)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = asdict(row)
        writer.writerow([_cell(name, values[name]) for name in names])
    return buffer.getvalue()


def to_markdown(rows: list[MetricRow], notes: list[str]) -> str:
    """Rows as a markdown table ("–" where a metric does not apply), followed by the notes."""
    header = ["job", "method", "kind", "Dice liver", "Dice tumour", "PSNR dB", "SSIM", "NMSE", "time s", "note"]
    names = [f.name for f in fields(MetricRow)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * 6 + "---|"]
    for row in rows:
        values = asdict(row)
        cells = [_cell(name, values[name]) or "–" for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "# ConditionalSwin demo: metrics\n\n" + "\n".join(lines) + "\n\n" + "".join(f"- {n}\n" for n in notes)
