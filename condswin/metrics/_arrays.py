"""Input handling shared by the metric functions."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any, name: str) -> np.ndarray:
    """A numpy view of an array-like or a (possibly CUDA, possibly grad-tracking) torch tensor."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ValueError(f"{name}: expected a numeric array, got dtype object")
    return arr


def check_pair(gt: np.ndarray, pred: np.ndarray, metric: str) -> None:
    """Same shape, real-valued, finite — or a ValueError naming the metric and the problem."""
    if gt.shape != pred.shape:
        raise ValueError(f"{metric}: target shape {gt.shape} and prediction shape {pred.shape} differ")
    if gt.size == 0:
        raise ValueError(f"{metric}: empty input (shape {gt.shape})")
    for name, arr in (("target", gt), ("prediction", pred)):
        if np.iscomplexobj(arr):
            raise ValueError(f"{metric}: {name} is complex; pass magnitude images")
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise ValueError(f"{metric}: {name} has non-numeric dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{metric}: {name} contains NaN or infinite values")
