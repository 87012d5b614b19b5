"""A model card's input/output contract as typed values: normalisation, in-plane grid, representations, labels.

Training and inference must prepare slices identically, so training should use :class:`Normalization` and
:meth:`ModelContract.model_grid` from here rather than re-implementing them. The defaults of a card (the
percentile scaling, the HU window and the LiTS labels of a segmentation template, the bounds on slice size and
pixel size) are defined here and nowhere else; training's config and data take theirs from here.

Normalisation kinds:

* ``hu_window`` (CT): clip HU to [low, high], map linearly to [0, 1] (:func:`condswin.ct.window_hu`).
* ``percentile`` (MR): map the [lower, upper] percentiles of the magnitude (over the whole volume, or per
  slice with ``scope="slice"``) to [0, 1], without clipping unless ``clip`` is set; image outputs are
  mapped back with the same numbers. Complex input is only scaled (offset 0), so its phase is unchanged.
  Percentiles of volumes above 4 M voxels are taken on a regular subsample (deterministic, and the
  percentile of millions of voxels does not move with more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from condswin.errors import InputError
from condswin.lits import LIVER, TUMOUR

# `condswin --help` imports this module: the CT windowing (SimpleITK and scipy, through condswin.ct) is imported
# where it is used (lazy).

__all__ = [
    "DEFAULT_HU_WINDOW",
    "DEFAULT_PERCENTILES",
    "LITS_LABELS",
    "MAX_SLICE_SIDE",
    "PIXEL_SIZE_RANGE_MM",
    "RECONSTRUCTION_LOWER_PERCENTILE",
    "Code",
    "Label",
    "ModelContract",
    "Normalization",
    "Terminology",
    "default_normalization",
    "robust_range",
]

# The card defaults, in one place: the percentile scaling of MR models (volume scope, no clipping) ...
DEFAULT_PERCENTILES = (0.5, 99.5)
# ... whose lower end is 0 for k-space reconstructions: their background is exactly zero, not noise.
RECONSTRUCTION_LOWER_PERCENTILE = 0.0
# The HU window of the segmentation template (abdominal soft tissue, as LiTS models use).
DEFAULT_HU_WINDOW = (-100.0, 400.0)
# Bounds that keep a card (or a card with an odd image) from allocating terabytes: 4096² float32 slices are
# 64 MiB each, far above any model here; pixel sizes outside 0.01-100 mm are not MR or CT.
MAX_SLICE_SIDE = 4096
PIXEL_SIZE_RANGE_MM = (0.01, 100.0)

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
    """Intensity normalisation of a card (see the module docstring).

    Attributes:
        kind: ``hu_window`` or ``percentile``.
        low / high: the HU window (``hu_window`` only).
        lower / upper: the percentiles mapped to 0 and 1 (``percentile`` only).
        scope: ``volume`` (one scaling for the whole volume) or ``slice``.
        clip: clip the normalised values to [0, 1] (always true for an HU window).
    """

    kind: str
    low: float = DEFAULT_HU_WINDOW[0]
    high: float = DEFAULT_HU_WINDOW[1]
    lower: float = DEFAULT_PERCENTILES[0]
    upper: float = DEFAULT_PERCENTILES[1]
    scope: str = "volume"
    clip: bool = False

    @classmethod
    def hu_window(cls, low: float, high: float) -> Normalization:
        """Clip to [low, high] HU and map to [0, 1]."""
        return cls(kind="hu_window", low=float(low), high=float(high), clip=True)

    def to_dict(self) -> dict[str, Any]:
        """The card's ``input.normalization`` object (only the fields of this kind)."""
        if self.kind == "hu_window":
            return {"kind": self.kind, "low": self.low, "high": self.high}
        return {"kind": self.kind, "lower": self.lower, "upper": self.upper, "scope": self.scope, "clip": self.clip}

    def describe(self) -> str:
        """One line for people, e.g. ``HU window [-100.0, 400.0]`` or ``percentiles 0.5-99.5 per volume``."""
        if self.kind == "hu_window":
            return f"HU window [{self.low}, {self.high}]"
        return f"percentiles {self.lower}-{self.upper} per {self.scope}" + (", clipped" if self.clip else "")

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
            from condswin.ct.windowing import window_hu  # lazy: SimpleITK, scipy (see top)

            return window_hu(batch, low=self.low, high=self.high)
        if np.iscomplexobj(batch):
            return (batch / scales[:, None, None]).astype(np.complex64)
        out = batch.astype(np.float32)  # a copy: int16 HU must not wrap and the input is never touched
        out -= offsets[:, None, None].astype(np.float32)
        out /= scales[:, None, None].astype(np.float32)
        if self.clip:
            np.clip(out, 0.0, 1.0, out=out)
        return out


def default_normalization(task: str) -> Normalization:
    """The normalisation a new card of ``task`` starts with (:func:`condswin.bundles.card_template`).

    Segmentation: the CT HU window; reconstruction: percentiles from 0 (a zero-filled image's background is
    zero); denoising: the default percentiles.
    """
    if task == "segmentation":
        return Normalization.hu_window(*DEFAULT_HU_WINDOW)
    if task == "reconstruction":
        return Normalization(kind="percentile", lower=RECONSTRUCTION_LOWER_PERCENTILE)
    return Normalization(kind="percentile")


@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM / SNOMED CT), as Slicer's terminology uses it."""

    scheme: str
    value: str
    meaning: str

    def to_dict(self) -> dict[str, str]:
        """The card's JSON form (``codingScheme``, ``codeValue``, ``codeMeaning``)."""
        return {"codingScheme": self.scheme, "codeValue": self.value, "codeMeaning": self.meaning}


@dataclass(frozen=True)
class Terminology:
    """Category, type and (optional) anatomic region of a segment."""

    category: Code
    type: Code
    region: Code | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form."""
        return {
            "category": self.category.to_dict(),
            "type": self.type.to_dict(),
            "region": None if self.region is None else self.region.to_dict(),
        }


@dataclass(frozen=True)
class Label:
    """One class of a segmentation output: its value in the labelmap, name, display colour and terminology."""

    value: int
    name: str
    color: tuple[int, int, int]
    terminology: Terminology

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form."""
        return {
            "value": self.value,
            "name": self.name,
            "color": list(self.color),
            "terminology": self.terminology.to_dict(),
        }


# SNOMED CT codes of the LiTS classes (the segment editor's terminology for them).
_LIVER = Code("SCT", "10200004", "Liver")
_NEOPLASM = Code("SCT", "108369006", "Neoplasm")

# The labels of a segmentation card's template: the LiTS label map (:mod:`condswin.lits`) with display names,
# colours and the DICOM/SNOMED CT terminology Slicer's segment editor uses for them.
LITS_LABELS: tuple[Label, ...] = (
    Label(
        value=LIVER,
        name="liver",
        color=(221, 130, 101),
        terminology=Terminology(category=Code("SCT", "123037004", "Anatomical Structure"), type=_LIVER),
    ),
    Label(
        value=TUMOUR,
        name="liver tumor",
        color=(144, 238, 144),
        terminology=Terminology(
            category=Code("SCT", "49755003", "Morphologically Altered Structure"), type=_NEOPLASM, region=_LIVER
        ),
    ),
)


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
        labels: the classes of a segmentation output (class index = label value); empty for other tasks.
        postprocess: ``none`` or ``liver`` (largest liver component, tumours inside it, holes filled).
        score_offsets: one number per output channel of a multi-class segmentation, added to the network's class
            scores (logits) before the argmax, or () for none. An offset of +d on a class multiplies its odds
            against every other class by e^d: the correction for a class whose frequency or appearance in the
            training data differs from the data the model is used on (a prior shift), chosen by measurement and
            stated on the card with the data it was chosen on.
        cpu_bf16: run in bfloat16 autocast on CPUs with native bf16 (AVX512-BF16/AMX); set on a card only when
            its metrics were measured to be unchanged in bf16 (the card's ``inference`` object).
    """

    task: str
    modality: str
    axis: str
    normalization: Normalization
    out_channels: int
    pixel_size_mm: tuple[float, float] | None = None
    size: tuple[int, int] | None = None
    input_representation: str = "magnitude"
    output_representation: str = "magnitude"
    labels: tuple[Label, ...] = ()
    postprocess: str = "none"
    score_offsets: tuple[float, ...] = ()
    cpu_bf16: bool = False

    @property
    def label_values(self) -> tuple[int, ...]:
        """The label values of a segmentation output, in card order."""
        return tuple(label.value for label in self.labels)

    @property
    def is_lits(self) -> bool:
        """True when label 1 is coded as liver (SCT 10200004) and any label 2 as a neoplasm (SCT 108369006)."""
        codes = {label.value: label.terminology.type.value for label in self.labels}
        return codes.get(LIVER) == _LIVER.value and codes.get(TUMOUR, _NEOPLASM.value) == _NEOPLASM.value

    def input_dict(self) -> dict[str, Any]:
        """The card's ``input`` object."""
        return {
            "modality": self.modality,
            "axis": self.axis,
            "normalization": self.normalization.to_dict(),
            "pixel_size_mm": None if self.pixel_size_mm is None else list(self.pixel_size_mm),
            "size": None if self.size is None else list(self.size),
            "representation": self.input_representation,
        }

    def output_dict(self) -> dict[str, Any]:
        """The card's ``output`` object."""
        if self.task == "segmentation":
            output: dict[str, Any] = {
                "labels": [label.to_dict() for label in self.labels],
                "postprocess": self.postprocess,
            }
            if self.score_offsets:
                output["score_offsets"] = list(self.score_offsets)
            return output
        return {"representation": self.output_representation}

    def model_grid(self, shape: Sequence[int], spacing: Sequence[float]) -> tuple[int, int]:
        """(rows, columns) a slice of ``shape`` with (row, column) ``spacing`` mm is resampled to.

        Raises:
            InputError: the image's spacing would make the model's grid larger than ``MAX_SLICE_SIDE`` per
                side (e.g. a 100 mm "pixel" resampled to a 0.5 mm model), which would allocate gigabytes.
        """
        h, w = int(shape[0]), int(shape[1])
        if self.pixel_size_mm is None:
            return self.size if self.size is not None else (h, w)
        grid = (
            max(1, round(h * spacing[0] / self.pixel_size_mm[0])),
            max(1, round(w * spacing[1] / self.pixel_size_mm[1])),
        )
        if max(grid) > MAX_SLICE_SIDE:
            raise InputError(
                f"slices of {h}x{w} pixels at {spacing[0]:g}x{spacing[1]:g} mm would be resampled to "
                f"{grid[0]}x{grid[1]} pixels at the model's {self.pixel_size_mm[0]:g}x{self.pixel_size_mm[1]:g} mm "
                f"(at most {MAX_SLICE_SIDE} per side); check the image's pixel spacing"
            )
        return grid
