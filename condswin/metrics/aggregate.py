"""Metrics over a data set: per-case results (per metric, or per class and metric) reduced to mean and spread.

Used by ``condswin evaluate`` and by training validation, so both report the same numbers::

    cases = [segmentation_metrics(p, r) for p, r in pairs]        # {"liver": {"dice": .., ..}, ..} each
    table = aggregate([mark_absent(case) for case in cases])     # {"liver": {"dice": MetricStats, ..}, ..}
    means(table)                                                 # {"liver": {"dice": 0.93, ..}, ..}

Rules:

* A value that is NaN (HD95 when one side is empty) or None (a class absent from both prediction and
  reference, see :func:`mark_absent`) does not enter the mean; it is counted in ``missing`` instead, so an
  average never silently mixes defined and undefined cases.
* The standard deviation is the population one (``ddof=0``), as fastMRI's ``evaluate.py`` reports it.
* Cases may differ in which keys they have (HD95 skipped in some); each key is reduced over the cases that
  have it. Non-numeric leaves (file names, notes) are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["MetricStats", "summarise", "aggregate", "means", "to_json", "mark_absent", "COUNT_KEYS"]

COUNT_KEYS = ("tp", "fp", "fn")


@dataclass(frozen=True)
class MetricStats:
    """One metric over the cases.

    Attributes:
        mean: mean of the finite values (NaN when there is none).
        std: population standard deviation of the finite values (NaN when there is none).
        cases: number of finite values.
        missing: number of cases whose value is NaN or None (undefined or absent).
    """

    mean: float
    std: float
    cases: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def summarise(values: Iterable[float | None]) -> MetricStats:
    """Mean, spread and counts of one metric's values over cases (NaN and None are counted as missing)."""
    finite: list[float] = []
    missing = 0
    for value in values:
        if value is None or not math.isfinite(float(value)):
            missing += 1
        else:
            finite.append(float(value))
    if not finite:
        return MetricStats(math.nan, math.nan, 0, missing)
    array = np.asarray(finite, dtype=np.float64)
    return MetricStats(float(array.mean()), float(array.std()), len(finite), missing)


def _is_metric(value: Any) -> bool:
    return value is None or (isinstance(value, Real) and not isinstance(value, bool))


def aggregate(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Reduce per-case metric mappings (nested to any depth) to the same nesting with :class:`MetricStats` leaves.

    Args:
        cases: one mapping per case, e.g. ``{"nmse": .., "psnr": ..}`` or ``{"liver": {"dice": .., ..}, ..}``.

    Returns:
        The union of the cases' keys, in first-seen order; each numeric leaf becomes the :class:`MetricStats`
        of that leaf over the cases that have it. Empty when ``cases`` is empty.
    """
    keys: dict[str, None] = {}
    for case in cases:
        keys.update(dict.fromkeys(case))
    table: dict[str, Any] = {}
    for key in keys:
        present = [case[key] for case in cases if key in case]
        if all(_is_metric(value) for value in present):
            table[key] = summarise(present)
        elif all(isinstance(value, Mapping) for value in present):
            table[key] = aggregate(present)
        # anything else (text, lists) is a description of the case, not a metric
    return table


def means(table: Mapping[str, Any]) -> dict[str, Any]:
    """The table of :func:`aggregate` with only the means at the leaves (for printing)."""
    return {key: value.mean if isinstance(value, MetricStats) else means(value) for key, value in table.items()}


def to_json(table: Mapping[str, Any]) -> dict[str, Any]:
    """The table of :func:`aggregate` with every :class:`MetricStats` as a plain dict."""
    return {key: value.to_dict() if isinstance(value, MetricStats) else to_json(value) for key, value in table.items()}


def mark_absent(per_class: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-class segmentation metrics with the classes absent from both label maps marked as absent.

    :func:`condswin.metrics.segmentation_metrics` scores a class that neither map contains as perfect
    agreement (Dice 1), which is right for one slice but inflates a data set's mean when a label is simply
    not in the images (a label map of other structures, or the wrong ``--labels``). Here such a class keeps
    its counts, gets ``None`` for every other metric and ``"absent": True``, so :func:`aggregate` counts it
    as missing instead of as a success.

    Args:
        per_class: ``{class: {"dice": .., .., "tp": .., "fp": .., "fn": ..}}``.

    Returns:
        A new mapping; classes with any true or false positive or negative are copied unchanged.
    """
    marked: dict[str, dict[str, Any]] = {}
    for name, values in per_class.items():
        counts = [values.get(key) for key in COUNT_KEYS]
        if any(count is None for count in counts) or sum(count for count in counts if count is not None) > 0:
            marked[name] = dict(values)
        else:
            marked[name] = {key: (value if key in COUNT_KEYS else None) for key, value in values.items()}
            marked[name]["absent"] = True
    return marked
