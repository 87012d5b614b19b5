"""CT segmentation from phantom volumes generated on the fly (:mod:`condswin.ct.phantom`).

Volumes: each split has its own phantom seeds (:func:`.samples.phantom_seeds`: disjoint). A phantom is
generated the first time any process needs it and kept in the volume cache as memory-mappable arrays (CT,
labels, tissue map), so DataLoader workers, DDP ranks and later runs share one copy instead of each generating
it again; a volume is ``data.size`` in-plane (its random field of view of 360–460 mm sets the pixel size) and
:data:`PHANTOM_SLICES` slices deep (random spacing 1–5 mm).

Slices: ``data.slices_per_volume`` per volume, spread evenly over the slices that hold liver (slices next
to the liver make up the count when the liver is thinner); ``None`` takes every liver slice, which needs
every phantom generated when the datasets are built, to count them.

Scans without a liver (``data.non_liver_fraction``, training only): that share of the training phantoms are
heads or chests above the liver (half each, chosen by the seed; :mod:`condswin.ct.phantom`), labels 0
everywhere, so that a model sees what a liver is not; their slices are taken around the middle of the volume.

Real liver shapes (``data.liver_shapes``; ``liver-NNN.nii[.gz]`` binary masks such as
``../shared/data/ct/lits_liver_masks``: LiTS reference livers cropped and resampled to 1.5 mm): the shape
files are split like volumes (validation and test livers are never seen in training). Validation and test
phantoms take their shape as it is; the shapes are few, so each training phantom gets its own variant
(:func:`deform_shape`, seeded by the phantom's seed):

* mirrored front-to-back with probability 1/2 — a left-right mirror would put the right lobe against the
  spleen and stomach on the patient's left, an anatomy the phantom's other organs and real scans never show;
* scaled by a common factor in [0.85, 1.15] times a per-axis factor in [0.93, 1.07];
* turned about the head-foot axis by up to ±10°;
* elastically deformed by a smooth random displacement (random plane waves, ~70 mm wavelength, up to 8 mm).

The mask is padded first so that growth is not clipped, and resampled with linear interpolation of the mask
(threshold 0.5) on its own grid; :func:`condswin.ct.phantom.generate_phantom` then places it.

Domain randomisation (``data.randomize``, :func:`randomized_slice`) in the spirit of SynthSeg: a network
trained on one phantom's intensities learns those intensities, so every training sample renders the
phantom's tissue map afresh, and liver and tumour must be told apart by shape and context. Validation and
test always see the phantom's own rendering.

* contrast phase drawn per sample (native, arterial, portal venous), then each tissue's mean HU drawn from
  its range in that phase widened by ``max(40 HU, its width)`` on both sides (liver portal venous 95–125 HU
  becomes 55–165 HU, and the spleen, kidneys and bowel wall move independently of it);
* tumours: each one (3-D component) its own appearance as in contrast-enhanced CT — mostly 10–55 HU darker than
  the liver, with a soft margin and mottling; some brighter, ring-enhancing or cystic
  (:mod:`condswin.training.data.ct_tumour_rendering`);
* texture: a smooth random field (1–4 px grain) with a per-tissue amplitude of 0–12 HU;
* slice thickness: a Gaussian slice profile of 0.15–1.2 slices over a slab of neighbouring slices;
* in-plane blur 0.3–1.2 px (the scanner's point spread function);
* a smooth additive bias of up to ±25 HU (beam hardening / cupping);
* noise of 0–30 HU standard deviation with a 0.4–1 px grain (filtered back-projection noise is correlated).

Labels are never touched: the rendering changes intensities only. With ``data.randomize_fraction`` below 1,
that share of the training samples is re-rendered and the rest keep the phantom's own rendering (its noise,
tumours and densities, which were checked against a real portal-venous CT), so the network sees both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from condswin.ct.phantom import generate_phantom
from condswin.ct.phantom_canvas import PHASES, Tissue, hu_ranges
from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.inference import SliceLayout
from condswin.io.images import read_image
from condswin.training.config import TrainConfig
from condswin.training.data.contract import input_contract, normalization_of
from condswin.training.data.ct_tumour_rendering import render_tumours
from condswin.training.data.prepare import make_ct_sample
from condswin.training.data.samples import (
    DataSplits,
    SliceDataset,
    SliceSample,
    build_index,
    cache_folder,
    data_splits,
    evaluation_rng,
    phantom_seeds,
    split_volumes,
)
from condswin.training.data.store import ArraySource, ProcessLocal, VolumeCache, source_from_dict, source_to_dict

__all__ = [
    "LIVER_SHAPES_LICENCE",
    "PHANTOM_SLICES",
    "SLAB_HALF_WIDTH",
    "PhantomSpec",
    "PhantomVolume",
    "PhantomSliceDataset",
    "build_phantom",
    "choose_slices",
    "phantom_region",
    "find_liver_shapes",
    "check_liver_shapes",
    "deform_shape",
    "read_shape",
    "randomized_slice",
]

LIVER_SHAPES_LICENCE = "LiTS-derived liver shapes: CC BY-NC-SA 4.0 (non-commercial, share-alike)"
PHANTOM_SLICES = 48
# The generator's version in every cached phantom's key (and in the campaign's run folders): raise it whenever
# the phantom changes.
CACHE_VERSION = "phantom-3"

# Liver shape variants (see the module docstring).
_NAME = re.compile(r"^liver-\d+\.nii(\.gz)?$")
_PAD_MM = 24.0
_SCALE = (0.85, 1.15)
_AXIS_SCALE = (0.93, 1.07)
_MAX_TURN_DEG = 10.0
_WAVELENGTH_MM = 70.0
_MAX_DISPLACEMENT_MM = 8.0
_WAVES = 4

# Domain randomisation (see the module docstring).
SLAB_HALF_WIDTH = 2
_MIN_WIDEN_HU = 40.0
_TEXTURE_HU = 12.0
_THICKNESS_SLICES = (0.15, 1.2)
_PSF_PX = (0.3, 1.2)
_BIAS_HU = 25.0
_NOISE_HU = (0.0, 30.0)
_GRAIN_PX = (0.4, 1.0)
_N_TISSUES = max(int(t) for t in Tissue) + 1


def find_liver_shapes(folder: str | Path, source: str) -> list[Path]:
    """The ``liver-NNN.nii[.gz]`` files of a folder, sorted by name.

    Raises:
        InputNotFoundError: the folder does not exist.
        InputError: it holds no liver shapes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such folder of liver shapes (data.liver_shapes of {source})")
    paths = sorted(p for p in folder.iterdir() if _NAME.match(p.name) and p.is_file())
    if not paths:
        raise InputError(f"{folder}: no liver shapes (liver-NNN.nii or liver-NNN.nii.gz binary masks)")
    return paths


def read_shape(path: str | Path) -> sitk.Image:
    """Read a liver shape as a uint8 0/1 mask (errors name the file)."""
    image = read_image(path, ndim=3)
    return sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)


def check_liver_shapes(paths: list[Path], cache: VolumeCache) -> None:
    """Check that every shape is a readable, non-empty 3-D mask of 0/1 (a result is cached per unchanged file).

    Raises:
        InputError: naming the first file that is not.
    """
    for path in paths:
        key = VolumeCache.file_key(path, "liver-shape-1")
        if cache.info(path.name.split(".")[0], key) is not None:
            continue
        image = read_image(path, ndim=3)  # ImageFileError (an InputError) for unreadable or non-3-D files
        values = np.unique(sitk.GetArrayViewFromImage(image))
        if not set(values.tolist()) <= {0, 1}:
            raise InputError(f"{path}: a liver shape must hold only 0 and 1, found {values[:10].tolist()}")
        if values.max(initial=0) != 1:
            raise InputError(f"{path}: the liver shape is empty (no voxel is 1)")
        cache.put_info(
            path.name.split(".")[0], key, {"size": list(image.GetSize()), "spacing": list(image.GetSpacing())}
        )


def _wave_field(rng: np.random.Generator, steps: np.ndarray, offset: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A smooth random field (about unit amplitude) over a voxel grid: a sum of random plane waves in LPS mm.

    A plane wave of the position p = steps · (i, j, k) + offset is a product of one complex exponential per
    index axis, so each wave costs one outer product instead of a cosine per voxel.

    Args:
        rng: the generator.
        steps: 3×3 matrix, column c the LPS step (mm) of index axis c.
        offset: LPS position (mm) of voxel (0, 0, 0).
        shape: the grid's numpy shape (k, j, i).
    """
    field = np.zeros(shape, dtype=np.float32)
    for _ in range(_WAVES):
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        k = 2.0 * np.pi / (_WAVELENGTH_MM * rng.uniform(0.7, 1.4)) * direction
        per_index = k @ steps  # phase advance per voxel along i, j, k
        phase = float(k @ offset) + rng.uniform(0, 2 * np.pi)
        along_i = np.exp(1j * per_index[0] * np.arange(shape[2])).astype(np.complex64)
        along_j = np.exp(1j * per_index[1] * np.arange(shape[1])).astype(np.complex64)
        along_k = (np.exp(1j * (per_index[2] * np.arange(shape[0]) + phase))).astype(np.complex64)
        field += (along_k[:, None, None] * along_j[None, :, None] * along_i[None, None, :]).real
    return field / np.float32(np.sqrt(_WAVES / 2.0))


def deform_shape(shape: sitk.Image, rng: np.random.Generator) -> sitk.Image:
    """A random variant of a liver shape (see the module docstring) on a padded copy of its grid.

    Args:
        shape: a 0/1 mask (:func:`read_shape`).
        rng: the generator that decides the variant.

    Returns:
        A uint8 0/1 mask with the shape's spacing and direction (origin moved by the padding).
    """
    spacing = np.asarray(shape.GetSpacing(), dtype=np.float64)
    direction = np.asarray(shape.GetDirection(), dtype=np.float64).reshape(3, 3)
    pad = np.ceil(_PAD_MM / spacing).astype(int)  # (x, y, z) voxels
    mask = np.pad(sitk.GetArrayFromImage(shape).astype(np.float32), [(p, p) for p in pad[::-1]])
    origin = np.asarray(shape.GetOrigin()) - direction @ (pad * spacing)

    # Positions relative to the shape's centroid (LPS mm) are p = steps · (i, j, k) + offset.
    centroid_index = np.array(ndimage.center_of_mass(mask))[::-1]  # (i, j, k)
    centre = origin + direction @ (centroid_index * spacing)
    steps = direction * spacing[None, :]
    offset = origin - centre

    # Output position p takes the value of the source at  A^-1 (p - u(p)):  u the elastic displacement,
    # A = turn · scale · mirror (all about the centroid).
    amplitude = rng.uniform(0.0, _MAX_DISPLACEMENT_MM)
    displacement = [np.float32(amplitude) * _wave_field(rng, steps, offset, mask.shape) for _ in range(3)]
    scale = rng.uniform(*_SCALE) * rng.uniform(*_AXIS_SCALE, size=3)
    mirror = np.diag([1.0, -1.0 if rng.uniform() < 0.5 else 1.0, 1.0])
    turn = np.deg2rad(rng.uniform(-_MAX_TURN_DEG, _MAX_TURN_DEG))
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0.0], [np.sin(turn), np.cos(turn), 0.0], [0.0, 0.0, 1.0]])
    # Source position q (relative to the centroid) → continuous (i, j, k) index: D^T (q + centre - origin) / s.
    to_index = direction.T @ np.linalg.inv(rotation @ np.diag(scale) @ mirror) / spacing[:, None]
    linear = to_index @ steps  # index of A^-1 p as a linear map of the output index ...
    constant = to_index @ offset + direction.T @ (centre - origin) / spacing  # ... plus this
    axes = [np.arange(n, dtype=np.float32) for n in mask.shape[::-1]]  # i, j, k
    grids = [axes[0][None, None, :], axes[1][None, :, None], axes[2][:, None, None]]
    index = []
    for a in range(3):
        value = sum(np.float32(linear[a, c]) * grids[c] for c in range(3)) + np.float32(constant[a])
        value = value - sum(np.float32(to_index[a, b]) * displacement[b] for b in range(3))
        index.append(value)
    values = ndimage.map_coordinates(mask, [index[2], index[1], index[0]], order=1, mode="constant", cval=0.0)
    out = sitk.GetImageFromArray((values > 0.5).astype(np.uint8))
    out.SetSpacing(tuple(float(s) for s in spacing))
    out.SetDirection(tuple(float(v) for v in direction.ravel()))
    out.SetOrigin(tuple(float(v) for v in origin))
    return out


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
        render_tumours(hu, tumour, float(means[int(Tissue.LIVER)]), rng)
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


@dataclass(frozen=True)
class PhantomSpec:
    """Everything a phantom volume depends on.

    Attributes:
        seed: the phantom seed.
        shape: grid size (x, y, z) in SimpleITK order.
        liver_shape: a real liver shape file, or None for a drawn liver.
        deform: use a random variant of the shape (training) rather than the shape itself.
        region: ``abdomen``, or ``chest`` / ``head`` for a phantom without a liver (:data:`condswin.ct.phantom.REGIONS`).
    """

    seed: int
    shape: tuple[int, int, int]
    liver_shape: str | None = None
    deform: bool = False
    region: str = "abdomen"

    @property
    def volume_id(self) -> str:
        """The volume's id in samples: ``phantom-<seed>``."""
        return f"phantom-{self.seed}"

    def key(self) -> str:
        """The cache key: the generator's version and every parameter (and the shape file's version)."""
        shape_key = VolumeCache.file_key(self.liver_shape) if self.liver_shape else "drawn"
        return f"{CACHE_VERSION}|{self.seed}|{self.shape}|{shape_key}|{self.deform}|{self.region}"


@dataclass(frozen=True)
class PhantomVolume:
    """A generated phantom in the cache: its arrays, slice layout and the slices used."""

    ct: ArraySource
    labels: ArraySource
    tissue: ArraySource
    layout: SliceLayout
    slices: tuple[int, ...]
    liver_shift_mm: tuple[float, float, float] | None


def choose_slices(has_liver: np.ndarray, count: int | None) -> list[int]:
    """The slices a phantom contributes.

    Args:
        has_liver: boolean per slice.
        count: how many (at most the number of slices), or None for every liver slice.

    Returns:
        Sorted slice indices: ``count`` spread evenly over the liver slices, topped up with the slices closest
        to the liver when there are too few; every liver slice for None (every slice when none has liver).
    """
    liver = np.flatnonzero(has_liver)
    total = int(has_liver.size)
    if count is None:
        return liver.tolist() if liver.size else list(range(total))
    if liver.size >= count:
        return liver[np.round(np.linspace(0, liver.size - 1, count)).astype(int)].tolist()
    centre = float(liver.mean()) if liver.size else (total - 1) / 2.0
    others = sorted((s for s in range(total) if not has_liver[s]), key=lambda s: (abs(s - centre), s))
    return sorted(liver.tolist() + others[: count - liver.size])


def materialize(spec: PhantomSpec, cache: VolumeCache, count: int | None) -> PhantomVolume:
    """The phantom of ``spec`` from the cache, generated and stored first when it is not there.

    Args:
        spec: what to generate.
        cache: the volume cache.
        count: slices per volume (see :func:`choose_slices`).

    Returns:
        The stored volume.
    """
    name = spec.volume_id
    key = f"{spec.key()}|{count}"
    info = cache.info(name, key)
    if info is None or not all(Path(info[r]["path"]).is_file() for r in ("ct", "labels", "tissue")):
        liver_mask = None
        if spec.liver_shape is not None and spec.region == "abdomen":
            liver_mask = read_shape(spec.liver_shape)
            if spec.deform:
                liver_mask = deform_shape(liver_mask, evaluation_rng("liver-shape", spec.seed))
        case = generate_phantom(spec.seed, spec.shape, liver_mask=liver_mask, region=spec.region)
        layout = SliceLayout.from_image(case.ct, "axial")
        labels = sitk.GetArrayViewFromImage(case.labels)
        n = layout.slice_shape(labels.shape)[0]
        has_liver = layout.slices(labels).reshape(n, -1).max(axis=1) > 0
        info = {
            "ct": source_to_dict(cache.put_array(name, key, "ct", sitk.GetArrayViewFromImage(case.ct))),
            "labels": source_to_dict(cache.put_array(name, key, "labels", labels)),
            "tissue": source_to_dict(cache.put_array(name, key, "tissue", case.tissue)),
            "spacing": list(case.ct.GetSpacing()),
            "direction": list(case.ct.GetDirection()),
            "slices": choose_slices(has_liver, count),
            "liver_shift_mm": None if case.liver_shift_mm is None else list(case.liver_shift_mm),
        }
        cache.put_info(name, key, info)
    shift = info["liver_shift_mm"]
    return PhantomVolume(
        ct=source_from_dict(info["ct"]),
        labels=source_from_dict(info["labels"]),
        tissue=source_from_dict(info["tissue"]),
        layout=SliceLayout.from_geometry(info["spacing"], info["direction"], "axial"),
        slices=tuple(int(s) for s in info["slices"]),
        liver_shift_mm=None if shift is None else (float(shift[0]), float(shift[1]), float(shift[2])),
    )


class PhantomSliceDataset(SliceDataset):
    """Axial slices of phantom volumes (generated on first use), windowed as inference windows CT.

    Args:
        specs: the phantoms of this split.
        config: the run's config.
        training: augment, and re-render with domain randomisation when ``data.randomize``.
    """

    def __init__(self, specs: Sequence[PhantomSpec], config: TrainConfig, training: bool):
        count = config.data.slices_per_volume
        cache = VolumeCache(cache_folder(config))
        # Every phantom has data.slices_per_volume slices; for None, each is generated now to count them.
        counts = [count if count is not None else len(materialize(spec, cache, None).slices) for spec in specs]
        super().__init__(
            [s.volume_id for s in specs], build_index([range(c) for c in counts]), training, config.data.split_seed
        )
        self.specs = list(specs)
        self.count = count
        self.cache = cache
        self.size = (int(config.data.size[0]), int(config.data.size[1]))
        self.normalization = normalization_of(input_contract(config))
        self.augment = config.data.augment
        self.randomize = bool(config.data.randomize) and training
        self.randomize_fraction = float(config.data.randomize_fraction)
        self._volumes: ProcessLocal[PhantomVolume] = ProcessLocal(capacity=100_000)
        self._maps: ProcessLocal[np.ndarray] = ProcessLocal(capacity=192)

    def volume(self, position: int) -> PhantomVolume:
        """The stored phantom at ``position`` (generated in this process if no process has yet)."""
        spec = self.specs[position]
        return self._volumes.get(spec.seed, lambda: materialize(spec, self.cache, self.count))

    def _mapped(self, source: ArraySource, layout: SliceLayout) -> np.ndarray:
        return layout.slices(self._maps.get(source.path, source.open))

    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        entry = self.volume(volume)
        index = entry.slices[slice_index]
        labels = np.array(self._mapped(entry.labels, entry.layout)[index])
        # a fraction of 1 draws nothing, so a fully randomised run's samples stay what they were
        rerender = self.randomize and (self.randomize_fraction == 1.0 or rng.uniform() < self.randomize_fraction)
        if rerender:
            tissue = self._mapped(entry.tissue, entry.layout)
            low, high = max(0, index - SLAB_HALF_WIDTH), min(tissue.shape[0], index + SLAB_HALF_WIDTH + 1)
            hu = randomized_slice(np.array(tissue[low:high]), index - low, rng)
        else:
            hu = np.array(self._mapped(entry.ct, entry.layout)[index])
        augment = self.augment if self.training else None
        return make_ct_sample(
            hu, labels, self.normalization, self.size, augment, rng, self.specs[volume].volume_id, index
        )


def _shape_pools(config: TrainConfig) -> tuple[list[str | None], list[str | None], list[str | None], str]:
    """Liver shape files per split (disjoint), or [None] pools for drawn livers, and a description."""
    data = config.data
    if not data.liver_shapes:
        return [None], [None], [None], "livers drawn by the phantom (smooth random shapes)"
    paths = find_liver_shapes(data.liver_shapes, config.source)
    needed = 1 + data.val_volumes + data.test_volumes
    if len(paths) < needed:
        raise InputError(
            f"{data.liver_shapes}: {len(paths)} liver shapes; disjoint splits need at least {needed} "
            f"(one per validation and test volume, and one for training)"
        )
    check_liver_shapes(paths, VolumeCache(cache_folder(config)))
    train, val, test = split_volumes(paths, data.val_volumes, data.test_volumes, data.split_seed, config.source)
    text = (
        f"real LiTS-derived liver shapes from {data.liver_shapes}: {len(train)} for training (random variants: "
        f"front-back mirror, scaling, turn, elastic deformation), {len(val)} validation and {len(test)} test shapes "
        "used as they are (disjoint)"
    )
    return [str(p) for p in train], [str(p) for p in val], [str(p) for p in test], text


def phantom_region(seed: int, non_liver_fraction: float) -> str:
    """The body region of a training phantom: ``abdomen``, or with probability ``non_liver_fraction`` a phantom
    without a liver, ``head`` or ``chest`` alike (decided by the seed alone, so a rerun gets the same ones)."""
    draw = float(evaluation_rng("region", seed).uniform())
    if draw >= non_liver_fraction:
        return "abdomen"
    return "head" if draw < non_liver_fraction / 2 else "chest"


def build_phantom(config: TrainConfig) -> DataSplits:
    """Datasets of a ``phantom`` segmentation run (see the module docstring).

    Raises:
        UsageError: bad counts (no training or validation volume, more slices per volume than a phantom has).
        InputNotFoundError / InputError: a missing or bad ``data.liver_shapes`` folder, naming the file.
    """
    data = config.data
    if data.train_volumes < 1 or data.val_volumes < 1 or data.test_volumes < 0:
        raise UsageError(
            f"{config.source}: data: phantom runs need train_volumes >= 1 and val_volumes >= 1, got "
            f"{data.train_volumes} / {data.val_volumes} / {data.test_volumes}"
        )
    if data.slices_per_volume is not None and not 1 <= data.slices_per_volume <= PHANTOM_SLICES:
        raise UsageError(
            f"{config.source}: data.slices_per_volume must lie in [1, {PHANTOM_SLICES}] (the slices of a phantom) "
            f"or be null, got {data.slices_per_volume}"
        )
    seeds = phantom_seeds(data.split_seed, data.train_volumes, data.val_volumes, data.test_volumes)
    pools = _shape_pools(config)
    grid = (int(data.size[1]), int(data.size[0]), PHANTOM_SLICES)
    specs = [
        [
            PhantomSpec(
                seed,
                grid,
                pool[i % len(pool)],
                deform=(split == 0 and pool[0] is not None),
                region=phantom_region(seed, data.non_liver_fraction if split == 0 else 0.0),
            )
            for i, seed in enumerate(split_seeds)
        ]
        for split, (split_seeds, pool) in enumerate(zip(seeds, pools[:3], strict=True))
    ]
    without_liver = sum(spec.region != "abdomen" for spec in specs[0])
    per_volume = "every liver slice" if data.slices_per_volume is None else f"{data.slices_per_volume} axial slices"
    if data.randomize_fraction == 1.0:
        share, others = "every training sample", "for validation/test"
    else:
        share, others = f"{data.randomize_fraction:g} of the training samples", "otherwise and for validation/test"
    rendering = (
        f"domain-randomised renderings for {share} (contrast phase, per-tissue HU, texture, slice profile, blur, "
        f"bias, noise; SynthSeg-style), the phantom's own rendering {others}"
        if data.randomize
        else "the phantom's own rendering"
    )
    description = (
        f"procedural abdominal CT phantom (condswin.ct.phantom), generated on the fly: {len(seeds[0])} training, "
        f"{len(seeds[1])} validation and {len(seeds[2])} test volumes (disjoint seeds from split seed "
        f"{data.split_seed}), {grid[0]}x{grid[1]}x{grid[2]} voxels, {per_volume} per volume (liver-bearing "
        f"preferred); {pools[3]}; {rendering}"
        + (
            f"; {without_liver} of the training volumes hold no liver (heads and chests above the liver, labels 0)"
            if without_liver
            else ""
        )
    )
    return data_splits(
        config,
        lambda split, training: PhantomSliceDataset(split, config, training),
        (specs[0], specs[1], specs[2]),
        description,
        (LIVER_SHAPES_LICENCE,) if data.liver_shapes else (),
    )
