"""What the training data pipeline hands to the Lightning modules: one typed sample per slice, and the splits.

A :class:`SliceSample` is a ``NamedTuple`` so that ``torch.utils.data.default_collate`` batches it field by
field (tensors stacked, strings and numbers gathered into lists / tensors) without a custom collate function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

__all__ = ["SliceSample", "DataSplits"]


class SliceSample(NamedTuple):
    """One 2-D training or validation example.

    Attributes:
        image: (C, H, W) float32 network input, normalised exactly as the model card says (C = 2 for complex
            reconstruction input: real and imaginary parts).
        target: segmentation: (H, W) int64 labels 0/1/2; image tasks: (1, H, W) float32 on the image's scale.
        volume: the volume's id (file name, or ``phantom-<seed>``); validation metrics are per volume.
        slice_index: the slice's index in its volume (in the model's slice layout).
        scale: normalised → original units is ``x * scale + offset`` (image tasks; 1.0 for CT).
        offset: see ``scale`` (0.0 for CT).
        mask: reconstruction: the (W,) float32 sampled-column mask of the input's k-space (1 = measured), which
            a data-consistency model needs; other tasks: empty (a default tensor, so batches still collate).
    """

    image: torch.Tensor
    target: torch.Tensor
    volume: str
    slice_index: int
    scale: float
    offset: float
    mask: torch.Tensor = torch.zeros(0)


@dataclass(frozen=True)
class DataSplits:
    """The datasets of a run and what the model card must say about them.

    Attributes:
        train: dataset of :class:`SliceSample`; fresh randomness per sample (mask, noise, augmentation).
        val: deterministic dataset (per-volume seeds), never augmented.
        test: held-out dataset, or None.
        in_channels: 1, or 2 for complex reconstruction input.
        out_channels: 3 for LiTS segmentation, 1 for image tasks.
        input_contract: the card's ``input`` object (modality, axis, normalization, pixel_size_mm, size,
            representation).
        output_contract: the card's ``output`` object (labels and postprocess for segmentation; representation).
        description: what the model was trained on, for the card (volumes, counts, splits, simulation).
        licences: licences of the training data, e.g. ``"LiTS-derived liver shapes: CC BY-NC-SA 4.0"``.
    """

    train: Dataset
    val: Dataset
    test: Dataset | None
    in_channels: int
    out_channels: int
    input_contract: dict[str, Any] = field(default_factory=dict)
    output_contract: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    licences: tuple[str, ...] = ()
