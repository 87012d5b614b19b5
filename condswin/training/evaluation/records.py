"""What scoring one case yields: its metric rows and montage rows, each row passed on as soon as it is scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from condswin.evaluation.rows import MetricRow, MontageRow

__all__ = ["CaseOutcome", "RowCallback"]

RowCallback = Callable[[MetricRow], None]


@dataclass
class CaseOutcome:
    """Everything one case contributes: its rows, and its montage rows when it is shown.

    Attributes:
        rows / montage: see :class:`~condswin.evaluation.rows.MetricRow`, :class:`~condswin.evaluation.rows.MontageRow`.
        on_row: told of every row as soon as it is scored (progress of long cases: BM3D on big volumes).
    """

    rows: list[MetricRow] = field(default_factory=list)
    montage: list[MontageRow] = field(default_factory=list)
    on_row: RowCallback | None = None

    def add(self, row: MetricRow) -> None:
        """Keep a row and pass it to ``on_row``."""
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)
