"""CT segmentation from phantom volumes generated on the fly (:mod:`condswin.ct.phantom`).

Each split has its own phantom seeds (:func:`.split.phantom_seeds`: disjoint). A phantom is generated the first
time any process needs it and kept in the volume cache as memory-mappable arrays (CT, labels, tissue map),
so DataLoader workers, DDP ranks and later runs share one copy instead of each generating it again; a volume
is ``data.size`` in-plane (its random field of view of 360–460 mm sets the pixel size) and
:data:`PHANTOM_SLICES` slices deep (random spacing 1–5 mm).

Slices: ``data.slices_per_volume`` per volume, spread evenly over the slices that hold liver (slices next
to the liver make up the count when the liver is thinner); ``None`` takes every liver slice, which needs
every phantom generated when the datasets are built, to count them.

Real liver shapes (``data.liver_shapes``): the shape files are split like volumes (validation and test
livers are never seen in training). Training phantoms take a random variant of a training shape
(:func:`.liver_shapes.deform_shape`, seeded by the phantom's seed); validation and test phantoms take their
shape as it is. Domain randomisation (``data.randomize``, :mod:`.randomize`) re-renders the tissue map for
every training sample; validation and test always see the phantom's own rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from condswin.ct.phantom import generate_phantom
from condswin.errors import InputError, UsageError
from condswin.inference import SliceLayout
from condswin.training.config import TrainConfig
from condswin.training.data.contract import channels, input_contract, normalization_of, output_contract
from condswin.training.data.ct_slices import make_ct_sample
from condswin.training.data.liver_shapes import (
    LICENCE,
    check_liver_shapes,
    deform_shape,
    find_liver_shapes,
    read_shape,
)
from condswin.training.data.randomize import SLAB_HALF_WIDTH, randomized_slice
from condswin.training.data.randomness import evaluation_rng
from condswin.training.data.samples import DataSplits, SliceSample
from condswin.training.data.slices import SliceDataset, build_index, cache_folder
from condswin.training.data.split import phantom_seeds, split_volumes
from condswin.training.data.store import ArraySource, ProcessLocal, VolumeCache, source_from_dict, source_to_dict

__all__ = ["PHANTOM_SLICES", "PhantomSpec", "PhantomVolume", "PhantomSliceDataset", "build_phantom", "choose_slices"]

PHANTOM_SLICES = 48
_CACHE_VERSION = "phantom-1"


@dataclass(frozen=True)
class PhantomSpec:
    """Everything a phantom volume depends on.

    Attributes:
        seed: the phantom seed.
        shape: grid size (x, y, z) in SimpleITK order.
        liver_shape: a real liver shape file, or None for a drawn liver.
        deform: use a random variant of the shape (training) rather than the shape itself.
    """

    seed: int
    shape: tuple[int, int, int]
    liver_shape: str | None = None
    deform: bool = False

    @property
    def volume_id(self) -> str:
        """The volume's id in samples: ``phantom-<seed>``."""
        return f"phantom-{self.seed}"

    def key(self) -> str:
        """The cache key: the generator's version and every parameter (and the shape file's version)."""
        shape_key = VolumeCache.file_key(self.liver_shape) if self.liver_shape else "drawn"
        return f"{_CACHE_VERSION}|{self.seed}|{self.shape}|{shape_key}|{self.deform}"


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
        if spec.liver_shape is not None:
            liver_mask = read_shape(spec.liver_shape)
            if spec.deform:
                liver_mask = deform_shape(liver_mask, evaluation_rng("liver-shape", spec.seed))
        case = generate_phantom(spec.seed, spec.shape, liver_mask=liver_mask)
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
        liver_shift_mm=None if shift is None else tuple(float(v) for v in shift),
    )


class PhantomSliceDataset(SliceDataset):
    """Axial slices of phantom volumes (generated on first use), windowed as inference windows CT.

    Args:
        specs: the phantoms of this split.
        config: the run's config.
        training: augment, and re-render with domain randomisation when ``data.randomize``.
        counts: slices per volume (all equal to ``data.slices_per_volume``, or counted at build for None).
    """

    def __init__(self, specs: list[PhantomSpec], config: TrainConfig, training: bool, counts: list[int]):
        super().__init__(
            [s.volume_id for s in specs], build_index([range(c) for c in counts]), training, config.data.split_seed
        )
        self.specs = specs
        self.count = config.data.slices_per_volume
        self.cache = VolumeCache(cache_folder(config))
        self.size = tuple(int(s) for s in config.data.size)
        self.normalization = normalization_of(input_contract(config))
        self.augment = config.data.augment
        self.randomize = bool(config.data.randomize) and training
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
        if self.randomize:
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
            PhantomSpec(seed, grid, pool[i % len(pool)], deform=(split == 0 and pool[0] is not None))
            for i, seed in enumerate(split_seeds)
        ]
        for split, (split_seeds, pool) in enumerate(zip(seeds, pools[:3], strict=True))
    ]
    cache = VolumeCache(cache_folder(config))
    if data.slices_per_volume is None:
        counts = [[len(materialize(spec, cache, None).slices) for spec in split] for split in specs]
    else:
        counts = [[data.slices_per_volume] * len(split) for split in specs]
    datasets = [
        PhantomSliceDataset(split, config, training=(i == 0), counts=count) if split else None
        for i, (split, count) in enumerate(zip(specs, counts, strict=True))
    ]
    in_channels, out_channels = channels(config)
    per_volume = "every liver slice" if data.slices_per_volume is None else f"{data.slices_per_volume} axial slices"
    rendering = (
        "domain-randomised training renderings (contrast phase, per-tissue HU, texture, slice profile, blur, bias, "
        "noise; SynthSeg-style), the phantom's own rendering for validation/test"
        if data.randomize
        else "the phantom's own rendering"
    )
    description = (
        f"procedural abdominal CT phantom (condswin.ct.phantom), generated on the fly: {len(seeds[0])} training, "
        f"{len(seeds[1])} validation and {len(seeds[2])} test volumes (disjoint seeds from split seed "
        f"{data.split_seed}), {grid[0]}x{grid[1]}x{grid[2]} voxels, {per_volume} per volume (liver-bearing "
        f"preferred); {pools[3]}; {rendering}"
    )
    return DataSplits(
        train=datasets[0],
        val=datasets[1],
        test=datasets[2],
        in_channels=in_channels,
        out_channels=out_channels,
        input_contract=input_contract(config),
        output_contract=output_contract(config),
        description=description,
        licences=(LICENCE,) if data.liver_shapes else (),
    )
