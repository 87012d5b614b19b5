"""Training-time augmentation of 2-D slices: flips, small rotations and zooms, intensity gain and offset.

One :class:`Geometric` draw is applied to an image and its target together (labels by nearest neighbour,
images bilinearly, complex images part by part), always before anything that must stay aligned with the
acquisition: reconstruction transforms the fully sampled image before its k-space is masked, denoising the
clean slice before noise is added, so masks and noise keep their real structure. Validation and test data
are never augmented (the datasets call this only for the training split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from condswin.training.config import AugmentSection

__all__ = ["Geometric", "IntensityJitter"]


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
