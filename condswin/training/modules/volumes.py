"""Validation scored per volume: slices are buffered by volume and each volume is scored once it is complete.

The metrics are defined per volume (fastMRI's NMSE and PSNR over the whole volume, SSIM with the volume's
maximum as data range; Dice per case), so slices cannot be scored one by one. fastMRI's
``MriModule`` keeps every slice of the epoch; here only the volumes still arriving are held: the validation
loader (:class:`condswin.training.loaders.VolumeSampler`) delivers each volume's slices contiguously and
gives every rank whole volumes, so a volume that no longer appears in the batch stream is complete and is
scored and dropped at once — memory stays at about one volume per rank. At the end of the epoch the
per-volume scores of all ranks are gathered, so every rank logs the same means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist

from condswin.metrics.aggregate import MetricStats, aggregate

__all__ = ["VolumeScorer", "VolumeAccumulator", "gather_volume_scores", "summarise_volumes", "to_numpy"]

# volume prediction (slices, ...), volume target (slices, ...) -> {metric name: value}
VolumeScorer = Callable[[np.ndarray, np.ndarray], dict[str, float | None]]


class VolumeAccumulator:
    """Buffers validation slices per volume and scores each finished volume with ``scorer``.

    Args:
        scorer: maps one volume's stacked predictions and targets (slices in ``slice_index`` order) to
            named metric values.
    """

    def __init__(self, scorer: VolumeScorer):
        self.scorer = scorer
        self.reset()

    def reset(self) -> None:
        """Forget everything (called at the start of every validation epoch, the sanity check included)."""
        self._open: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self.scores: dict[str, dict[str, float | None]] = {}

    def add(self, volumes: Sequence[str], slice_indices: Sequence[int], preds: np.ndarray, targets: np.ndarray) -> None:
        """Add one batch of slices; volumes absent from it are complete and are scored now.

        Args:
            volumes: the volume name of each slice.
            slice_indices: each slice's index inside its volume (slices are stacked in this order).
            preds: (B, ...) predictions in the units the scorer expects.
            targets: (B, ...) references, same units.

        Raises:
            RuntimeError: a volume comes back after it was scored (the loader is not volume-contiguous).
        """
        present = set(volumes)
        for name in [v for v in self._open if v not in present]:
            self._close(name)
        for volume, index, pred, target in zip(volumes, slice_indices, preds, targets, strict=True):
            if volume in self.scores:
                raise RuntimeError(
                    f"validation slices of volume {volume!r} arrived after the volume was scored; the validation "
                    "loader must deliver each volume contiguously (use condswin.training.loaders.VolumeSampler)"
                )
            self._open.setdefault(volume, []).append((int(index), pred, target))

    def finish(self) -> dict[str, dict[str, float | None]]:
        """Score the volumes still open and return ``{volume: {metric: value}}`` of this process."""
        for name in list(self._open):
            self._close(name)
        return dict(self.scores)

    def _close(self, name: str) -> None:
        slices = sorted(self._open.pop(name), key=lambda item: item[0])
        pred = np.stack([item[1] for item in slices])
        target = np.stack([item[2] for item in slices])
        self.scores[name] = self.scorer(pred, target)


def gather_volume_scores(local: Mapping[str, Mapping[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """The per-volume scores of every process (``local`` itself outside distributed runs).

    Every rank must call this (it is a collective operation under DDP).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return {k: dict(v) for k, v in local.items()}
    gathered: list[dict[str, dict[str, float | None]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, {k: dict(v) for k, v in local.items()})
    merged: dict[str, dict[str, float | None]] = {}
    for part in gathered:
        merged.update(part or {})
    return merged


def summarise_volumes(scores: Mapping[str, Mapping[str, float | None]]) -> dict[str, MetricStats]:
    """Mean and spread of each metric over volumes (:func:`condswin.metrics.aggregate.aggregate`).

    Volumes are taken in sorted order, so every rank sums alike; NaN or None values (a class absent from a
    volume's prediction and reference) are left out of that metric's mean and counted as missing.
    """
    return aggregate([scores[name] for name in sorted(scores)])


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float32/int CPU numpy copy of a (possibly bf16, GPU) tensor."""
    tensor = tensor.detach()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.cpu().numpy()
