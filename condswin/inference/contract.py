"""A model card's input/output contract as code: normalisation, in-plane grid, representations, labels.

Training and inference must prepare slices identically, so training should use :class:`Normalization` and
:meth:`ModelContract.model_grid` from here rather than re-implementing them.

Normalisation kinds:

* ``hu_window`` (CT): clip HU to [low, high], map linearly to [0, 1] (:func:`condswin.ct.window_hu`).
* ``percentile`` (MR): map the [lower, upper] percentiles of the magnitude (over the whole volume, or per
  slice with ``scope="slice"``) to [0, 1], without clipping unless ``clip`` is set; image outputs are
  mapped back with the same numbers. Complex input is only scaled (offset 0), so its phase is unchanged.
  Percentiles of volumes above 4 M voxels are taken on a regular subsample (deterministic, and the
  percentile of millions of voxels does not move with more).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normalization", "ModelContract", "robust_range"]

_MAX_PERCENTILE_SAMPLES = 4_000_000


def robust_range(values: np.ndarray, lower: float, upper: float) -> tuple[float, float]:
    """(lower, upper) percentiles of ``values`` (magnitude taken for complex data), never an empty range.

    Args:
        values: any array (not modified).
        lower: lower percentile in [0, 100).
        upper: upper percentile in (lower, 100].

    Returns:
        ``(lo, hi)`` with ``hi > lo`` (a constant image gets ``hi = lo + 1``).
    """
    flat = np.abs(values) if np.iscomplexobj(values) else np.asarray(values)
    flat = flat.reshape(-1)
    if flat.size > _MAX_PERCENTILE_SAMPLES:
        flat = flat[:: -(-flat.size // _MAX_PERCENTILE_SAMPLES)]
    lo, hi = (float(v) for v in np.percentile(flat.astype(np.float64), [lower, upper]))
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


@dataclass(frozen=True)
class Normalization:
    """Intensity normalisation of a card (see the module docstring)."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    lower: float = 0.5
    upper: float = 99.5
    scope: str = "volume"
    clip: bool = False

    @classmethod
    def from_card(cls, spec: Mapping[str, Any]) -> Normalization:
        """Build from the card's ``input.normalization`` object (already validated)."""
        if spec["kind"] == "hu_window":
            return cls(kind="hu_window", low=float(spec["low"]), high=float(spec["high"]), clip=True)
        return cls(
            kind="percentile",
            lower=float(spec.get("lower", 0.5)),
            upper=float(spec.get("upper", 99.5)),
            scope=str(spec.get("scope", "volume")),
            clip=bool(spec.get("clip", False)),
        )

    def fit(self, volume: np.ndarray, complex_input: bool = False) -> tuple[float, float] | None:
        """The fixed (offset, scale) for the whole volume, or None when it is decided per slice."""
        if self.kind == "hu_window":
            return self.low, self.high - self.low
        if self.scope == "slice":
            return None
        lo, hi = robust_range(volume, self.lower, self.upper)
        return (0.0, hi) if complex_input else (lo, hi - lo)

    def offsets_and_scales(
        self, batch: np.ndarray, fitted: tuple[float, float] | None, complex_input: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-slice (offset, scale) arrays of shape (b,) for a batch (b, h, w)."""
        b = batch.shape[0]
        if fitted is not None:
            return np.full(b, fitted[0], dtype=np.float64), np.full(b, fitted[1], dtype=np.float64)
        pairs = [robust_range(plane, self.lower, self.upper) for plane in batch]
        offsets = np.array([0.0 if complex_input else lo for lo, _ in pairs])
        scales = np.array([hi if complex_input else hi - lo for lo, hi in pairs])
        return offsets, scales

    def apply(self, batch: np.ndarray, offsets: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """(batch - offset) / scale per slice as float32 (complex64 for complex input); clipped to [0, 1] if asked."""
        if self.kind == "hu_window":
            from condswin.ct.windowing import window_hu

            return window_hu(batch, low=self.low, high=self.high)
        if np.iscomplexobj(batch):
            return (batch / scales[:, None, None]).astype(np.complex64)
        out = batch.astype(np.float32)  # a copy: int16 HU must not wrap and the input is never touched
        out -= offsets[:, None, None].astype(np.float32)
        out /= scales[:, None, None].astype(np.float32)
        if self.clip:
            np.clip(out, 0.0, 1.0, out=out)
        return out


@dataclass(frozen=True)
class ModelContract:
    """Everything inference needs to know about a model besides its weights.

    Attributes:
        task: ``segmentation``, ``reconstruction`` or ``denoising``.
        modality: ``CT`` or ``MR``.
        axis: slicing axis (see :mod:`condswin.inference.orientation`).
        normalization: the intensity normalisation.
        pixel_size_mm: (row, column) pixel size the network works at, or None.
        size: (rows, columns) slices are resized to when ``pixel_size_mm`` is None, or None (native grid).
        input_representation / output_representation: ``magnitude`` (1 channel) or ``complex`` (2 channels).
        out_channels: channels of the network output.
        label_values: label values of a segmentation output (class index = label value).
        postprocess: ``none`` or ``liver`` (largest liver component, tumours inside it, holes filled).
    """

    task: str
    modality: str
    axis: str
    normalization: Normalization
    pixel_size_mm: tuple[float, float] | None
    size: tuple[int, int] | None
    input_representation: str
    output_representation: str
    out_channels: int
    label_values: tuple[int, ...]
    postprocess: str

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> ModelContract:
        """Read the contract of a validated card."""
        contract, output = card["input"], card["output"]
        pixel = contract.get("pixel_size_mm")
        size = contract.get("size")
        return cls(
            task=card["task"],
            modality=contract["modality"],
            axis=contract["axis"],
            normalization=Normalization.from_card(contract["normalization"]),
            pixel_size_mm=None if pixel is None else (float(pixel[0]), float(pixel[1])),
            size=None if size is None else (int(size[0]), int(size[1])),
            input_representation=contract.get("representation", "magnitude"),
            output_representation=output.get("representation", "magnitude"),
            out_channels=int(card["out_channels"]),
            label_values=tuple(int(label["value"]) for label in output.get("labels", [])),
            postprocess=output.get("postprocess", "none"),
        )

    def model_grid(self, shape: Sequence[int], spacing: Sequence[float]) -> tuple[int, int]:
        """(rows, columns) a slice of ``shape`` with (row, column) ``spacing`` mm is resampled to."""
        h, w = int(shape[0]), int(shape[1])
        if self.pixel_size_mm is not None:
            return (
                max(1, round(h * spacing[0] / self.pixel_size_mm[0])),
                max(1, round(w * spacing[1] / self.pixel_size_mm[1])),
            )
        if self.size is not None:
            return self.size
        return h, w
