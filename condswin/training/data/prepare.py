"""From a 2-D slice to a :class:`~.samples.SliceSample`: the engine's resize, crops and pads, augmentation.

Grid: CT slices are resized to the card's ``size`` exactly as :class:`condswin.inference.SliceEngine` resizes
its input (:func:`resize_like_inference`; labels by nearest neighbour). Image tasks run at the native grid at
inference (the card's ``size`` is null); training only cuts windows of ``data.size`` out of the normalised
slices (random in training, centred in evaluation) or pads them with zeros, so that slices of different sizes
can share a batch. Pixel size and intensities are unchanged.

Augmentation: one :class:`Geometric` draw is applied to an image and its target together (labels by nearest
neighbour, images bilinearly, complex images part by part), always before anything that must stay aligned
with the acquisition: reconstruction transforms the fully sampled image before its k-space is masked,
denoising the clean slice before noise is added, so masks and noise keep their real structure. Validation and
test data are never augmented (the datasets call this only for the training split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from condswin.bundles.contract import Normalization
from condswin.training.config import AugmentSection
from condswin.training.data.samples import SliceSample

__all__ = [
    "resize_like_inference",
    "resize_labels",
    "crop_or_pad",
    "crop_window",
    "Geometric",
    "IntensityJitter",
    "make_ct_sample",
    "image_sample",
    "as_channels",
]


def resize_like_inference(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (b, c, h, w) exactly as :class:`condswin.inference.SliceEngine` resizes its input.

    Antialiased when shrinking, so thin structures are not aliased away; a no-op at the same size.
    (A test checks this against the engine's own resize.)
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def resize_labels(labels: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of a (h, w) label map (pixel centres matched as ``align_corners=False``)."""
    h, w = labels.shape
    out_h, out_w = int(size[0]), int(size[1])
    if (h, w) == (out_h, out_w):
        return labels
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def crop_window(shape: Sequence[int], size: Sequence[int], rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size`` window in an image of ``shape`` (negative where the image must be padded).

    Args:
        shape: (h, w) of the image.
        size: (rows, columns) wanted.
        rng: random placement (training), or None for the centre (validation; as ``center_crop`` places it).

    Returns:
        ``(top, left)``; for a dimension smaller than the window the value is minus the padding before it.
    """
    corner = []
    for have, want in zip(shape, size, strict=True):
        spare = int(have) - int(want)
        if spare >= 0:
            corner.append(int(rng.integers(0, spare + 1)) if rng is not None else spare // 2)
        else:
            corner.append(-((-spare) // 2))
    return corner[0], corner[1]


def crop_or_pad(image: np.ndarray, size: Sequence[int], corner: tuple[int, int]) -> np.ndarray:
    """The (…, rows, columns) window of ``image`` at ``corner`` (from :func:`crop_window`), zero outside.

    Args:
        image: array (..., h, w), real or complex.
        size: (rows, columns).
        corner: (top, left), negative for padding.

    Returns:
        A new array (..., rows, columns) of the image's dtype.
    """
    rows, cols = int(size[0]), int(size[1])
    out = np.zeros(image.shape[:-2] + (rows, cols), dtype=image.dtype)
    top, left = corner
    src_r0, src_c0 = max(top, 0), max(left, 0)
    dst_r0, dst_c0 = max(-top, 0), max(-left, 0)
    n_r = min(image.shape[-2] - src_r0, rows - dst_r0)
    n_c = min(image.shape[-1] - src_c0, cols - dst_c0)
    out[..., dst_r0 : dst_r0 + n_r, dst_c0 : dst_c0 + n_c] = image[..., src_r0 : src_r0 + n_r, src_c0 : src_c0 + n_c]
    return out


@dataclass(frozen=True)
class Geometric:
    """One draw of the geometric transform (about the slice centre).

    Attributes:
        flip_rows: reverse the row order (up-down).
        flip_columns: reverse the column order (left-right).
        angle_deg: in-plane rotation.
        zoom: magnification (> 1 enlarges).
    """

    flip_rows: bool
    flip_columns: bool
    angle_deg: float
    zoom: float

    @classmethod
    def draw(cls, section: AugmentSection, rng: np.random.Generator) -> Geometric | None:
        """A random transform, or None (no change) with probability ``1 - section.probability``.

        Args:
            section: the config's augmentation section.
            rng: the sample's generator.
        """
        if rng.uniform() >= section.probability:
            return None
        transform = cls(
            flip_rows=bool(rng.uniform() < section.flip),
            flip_columns=bool(rng.uniform() < section.flip),
            angle_deg=float(rng.uniform(-section.rotate_deg, section.rotate_deg)),
            zoom=float(rng.uniform(1.0 - section.scale, 1.0 + section.scale)),
        )
        return None if transform.is_identity else transform

    @property
    def is_identity(self) -> bool:
        """True when applying it changes nothing."""
        return not self.flip_rows and not self.flip_columns and self.angle_deg == 0.0 and self.zoom == 1.0

    def apply(self, image: np.ndarray, labels: bool = False) -> np.ndarray:
        """Transform the last two axes of ``image`` (zero outside the source).

        Args:
            image: (..., h, w), real or complex.
            labels: nearest neighbour (label maps) instead of bilinear interpolation.

        Returns:
            A new array of the same shape and dtype.
        """
        if np.iscomplexobj(image):
            return (self.apply(image.real, labels) + 1j * self.apply(image.imag, labels)).astype(image.dtype)
        out = image
        if self.angle_deg != 0.0 or self.zoom != 1.0:
            theta = np.deg2rad(self.angle_deg)
            # affine_transform maps output coordinates to input ones: the inverse rotation, divided by the zoom.
            matrix = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) / self.zoom
            centre = (np.array(image.shape[-2:], dtype=np.float64) - 1.0) / 2.0
            offset = centre - matrix @ centre
            planes = image.reshape((-1,) + image.shape[-2:])
            order = 0 if labels else 1
            out = np.stack(
                [
                    ndimage.affine_transform(p, matrix, offset=offset, order=order, mode="constant", cval=0)
                    for p in planes
                ]
            ).reshape(image.shape)
        if self.flip_rows:
            out = out[..., ::-1, :]
        if self.flip_columns:
            out = out[..., :, ::-1]
        return np.ascontiguousarray(out, dtype=image.dtype)


@dataclass(frozen=True)
class IntensityJitter:
    """A gain and offset of normalised intensities: ``x * gain + bias``.

    Image tasks apply it to input and target alike and adjust the sample's ``scale`` / ``offset`` with
    :meth:`rescale`, so the pair stays consistent and maps back to the original units; segmentation applies
    it to the input only.
    """

    gain: float
    bias: float

    @classmethod
    def draw(cls, section: AugmentSection, rng: np.random.Generator, with_bias: bool = True) -> IntensityJitter:
        """A random gain in ``1 ± intensity`` and bias in ``± intensity`` (0 without ``with_bias``)."""
        gain = float(rng.uniform(1.0 - section.intensity, 1.0 + section.intensity))
        bias = float(rng.uniform(-section.intensity, section.intensity)) if with_bias else 0.0
        return cls(gain, bias)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x * gain + bias`` (float32)."""
        return (x * np.float32(self.gain) + np.float32(self.bias)).astype(np.float32)

    def rescale(self, scale: float, offset: float) -> tuple[float, float]:
        """The (scale, offset) that map jittered values back to the original units."""
        return scale / self.gain, offset - self.bias * scale / self.gain


def make_ct_sample(
    hu: np.ndarray,
    labels: np.ndarray,
    normalization: Normalization,
    size: tuple[int, int],
    augment: AugmentSection | None,
    rng: np.random.Generator,
    volume: str,
    slice_index: int,
) -> SliceSample:
    """Window an axial HU slice with the card's normalisation, resize it like the engine, augment it.

    Args:
        hu: (h, w) slice in HU (any real dtype), in the model's slice layout.
        labels: (h, w) labels 0/1/2 on the same grid.
        normalization: the card's HU window.
        size: the model grid (rows, columns) (``input.size``).
        augment: the augmentation section for a training sample, None for evaluation.
        rng: the sample's generator.
        volume: the volume id.
        slice_index: the slice's index in its volume.

    Returns:
        A :class:`SliceSample` with a (1, rows, columns) float32 image and (rows, columns) int64 labels.
    """
    batch = np.asarray(hu)[None]
    offsets, scales = normalization.offsets_and_scales(batch, None)
    windowed = normalization.apply(batch, offsets, scales)
    image = resize_like_inference(torch.from_numpy(windowed)[None], size)[0].numpy()
    target = resize_labels(np.asarray(labels).astype(np.int64), size)
    if augment is not None:
        transform = Geometric.draw(augment, rng)
        if transform is not None:
            image, target = transform.apply(image), transform.apply(target, labels=True)
        if augment.intensity > 0:
            image = IntensityJitter.draw(augment, rng).apply(image)
    return SliceSample(
        image=torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
        target=torch.from_numpy(np.ascontiguousarray(target, dtype=np.int64)),
        volume=volume,
        slice_index=int(slice_index),
        scale=1.0,
        offset=0.0,
    )


def as_channels(image: np.ndarray) -> np.ndarray:
    """(h, w) real → (1, h, w); complex → (2, h, w) real and imaginary parts (as the engine feeds them)."""
    if np.iscomplexobj(image):
        return np.stack([image.real, image.imag]).astype(np.float32)
    return np.asarray(image, dtype=np.float32)[None]


def image_sample(
    image: np.ndarray,
    target: np.ndarray,
    offset: float,
    scale: float,
    size: tuple[int, int],
    augment: AugmentSection | None,
    rng: np.random.Generator,
    volume: str,
    slice_index: int,
    jitter_bias: bool = True,
) -> SliceSample:
    """A :class:`SliceSample` from a normalised input and target on the same grid.

    Args:
        image: normalised input (h, w), real or complex (complex becomes two channels).
        target: normalised target (h, w), same grid.
        offset / scale: normalised → original units is ``x * scale + offset``.
        size: (rows, columns) of the sample.
        augment: the augmentation section for a training sample (random window, intensity jitter), or None.
        rng: the sample's generator.
        volume: the volume id.
        slice_index: the slice's index in its volume.
        jitter_bias: allow an intensity offset (not for reconstruction, whose zero background and complex
            input must stay as they are; the gain alone is used there).

    Returns:
        The sample: image (C, rows, columns) and target (1, rows, columns), float32.
    """
    corner = crop_window(image.shape[-2:], size, rng if augment is not None else None)
    channels = crop_or_pad(as_channels(image), size, corner)
    target = crop_or_pad(np.asarray(target, dtype=np.float32)[None], size, corner)
    if augment is not None and augment.intensity > 0:
        jitter = IntensityJitter.draw(augment, rng, with_bias=jitter_bias)
        channels, target = jitter.apply(channels), jitter.apply(target)
        scale, offset = jitter.rescale(scale, offset)
    return SliceSample(
        image=torch.from_numpy(np.ascontiguousarray(channels, dtype=np.float32)),
        target=torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)),
        volume=volume,
        slice_index=int(slice_index),
        scale=float(scale),
        offset=float(offset),
    )
