"""Domain randomisation of phantom CT in the spirit of SynthSeg: a new rendering of the tissue map per sample.

A network trained on one phantom's intensities learns those intensities. Here every training sample renders
the phantom's tissue map afresh, so liver and tumour must be told apart by shape and context:

* contrast phase drawn per sample (native, arterial, portal venous), then each tissue's mean HU drawn from
  its range in that phase widened by ``max(40 HU, its width)`` on both sides (liver portal venous 95–125 HU
  becomes 55–165 HU, and the spleen, kidneys and bowel wall move independently of it);
* tumours: each one (3-D component) its own contrast to the liver, ±10–80 HU, or water density (cyst, 1 in 10);
* texture: a smooth random field (1–4 px grain) with a per-tissue amplitude of 0–12 HU;
* slice thickness: a Gaussian slice profile of 0.15–1.2 slices over a slab of neighbouring slices;
* in-plane blur 0.3–1.2 px (the scanner's point spread function);
* a smooth additive bias of up to ±25 HU (beam hardening / cupping);
* noise of 0–30 HU standard deviation with a 0.4–1 px grain (filtered back-projection noise is correlated).

Labels are never touched: the rendering changes intensities only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from condswin.ct.phantom_anatomy import PHASES, Tissue, hu_ranges

__all__ = ["SLAB_HALF_WIDTH", "randomized_slice"]

SLAB_HALF_WIDTH = 2
_MIN_WIDEN_HU = 40.0
_TUMOUR_CONTRAST_HU = (10.0, 80.0)
_CYST_SHARE = 0.1
_TEXTURE_HU = 12.0
_THICKNESS_SLICES = (0.15, 1.2)
_PSF_PX = (0.3, 1.2)
_BIAS_HU = 25.0
_NOISE_HU = (0.0, 30.0)
_GRAIN_PX = (0.4, 1.0)
_N_TISSUES = max(int(t) for t in Tissue) + 1


def _unit_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma=sigma, mode="wrap")
    return field / np.float32(max(float(field.std()), 1e-6))


def _smooth_bias(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A field that varies over half to one and a half image widths: four random plane waves, unit std.

    Each wave is an outer product of two 1-D complex exponentials (a Gaussian filter that wide would cost a
    kernel of hundreds of taps per pixel).
    """
    rows, cols = shape
    field = np.zeros(shape, dtype=np.float32)
    for _ in range(4):
        angle = rng.uniform(0.0, 2.0 * np.pi)
        k = 2.0 * np.pi / (rng.uniform(0.5, 1.5) * max(rows, cols))
        along_rows = np.exp(1j * (k * np.sin(angle) * np.arange(rows) + rng.uniform(0.0, 2.0 * np.pi)))
        along_cols = np.exp(1j * k * np.cos(angle) * np.arange(cols))
        field += np.outer(along_rows, along_cols).real.astype(np.float32)
    field -= field.mean()
    return field / np.float32(max(float(field.std()), 1e-6))


def _tissue_means(rng: np.random.Generator) -> np.ndarray:
    """Mean HU per tissue value for one rendering (phase drawn, ranges widened)."""
    ranges = hu_ranges(str(rng.choice(PHASES)))
    means = np.full(_N_TISSUES, -1000.0, dtype=np.float32)
    for tissue, (low, high) in ranges.items():
        widen = max(_MIN_WIDEN_HU, high - low) if tissue not in (Tissue.AIR, Tissue.BOWEL_GAS) else 0.0
        means[int(tissue)] = rng.uniform(low - widen, high + widen)
    return means


def randomized_slice(tissue_slab: np.ndarray, centre: int, rng: np.random.Generator) -> np.ndarray:
    """Render one slice of a phantom's tissue map with randomised appearance (see the module docstring).

    Args:
        tissue_slab: uint8 tissue values (:class:`~condswin.ct.phantom_anatomy.Tissue`), shape (k, h, w): the
            slice and its neighbours (the slab is cut at the volume's ends, so ``k`` may be smaller than
            ``2 * SLAB_HALF_WIDTH + 1``).
        centre: index of the slice to render within the slab.
        rng: the sample's generator.

    Returns:
        float32 (h, w) image in HU.
    """
    slab = np.asarray(tissue_slab)
    means = _tissue_means(rng)
    hu = means[slab]
    tumour = slab == Tissue.TUMOUR
    if tumour.any():
        components, count = ndimage.label(tumour)
        liver = means[int(Tissue.LIVER)]
        for component in range(1, count + 1):
            if rng.uniform() < _CYST_SHARE:
                value = rng.uniform(0.0, 25.0)
            else:
                value = liver + rng.choice([-1.0, 1.0]) * rng.uniform(*_TUMOUR_CONTRAST_HU)
            hu[components == component] = value
    amplitude = rng.uniform(0.0, _TEXTURE_HU, size=_N_TISSUES).astype(np.float32)
    grain = rng.uniform(1.0, 4.0)
    hu += amplitude[slab] * _unit_field(rng, slab.shape, (0.0, grain, grain))

    # Slice profile: a Gaussian weight over the slab's slices, centred on the slice rendered.
    thickness = rng.uniform(*_THICKNESS_SLICES)
    weights = np.exp(-0.5 * ((np.arange(slab.shape[0]) - centre) / thickness) ** 2).astype(np.float32)
    image = np.tensordot(weights / weights.sum(), hu, axes=(0, 0))
    psf = rng.uniform(*_PSF_PX)
    image = ndimage.gaussian_filter(image, sigma=psf, mode="nearest")
    image += np.float32(rng.uniform(-_BIAS_HU, _BIAS_HU)) * _smooth_bias(rng, image.shape)
    noise = rng.uniform(*_NOISE_HU)
    if noise > 0:
        grain_px = rng.uniform(*_GRAIN_PX)
        image += np.float32(noise) * _unit_field(rng, image.shape, (grain_px, grain_px))
    return image.astype(np.float32)
