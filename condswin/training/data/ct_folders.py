"""CT segmentation from LiTS or Medical Segmentation Decathlon Task03 folders.

Cases are found by :func:`condswin.ct.find_cases` and checked by :func:`condswin.ct.load_case` (readable 3-D
volume, labels on the same grid, values only 0/1/2) before anything trains; a check's result is kept in the
volume cache so a later run does not read every volume again. Volumes are cut into axial slices with
:class:`condswin.inference.SliceLayout` (the orientation inference uses), windowed with the card's HU
window and resized to ``data.size`` with the engine's resize; labels are resized by nearest neighbour.

Which slices: every slice from a margin below the liver to a margin above it (a quarter of the liver's
extent, at least 2 slices), in training and validation alike, so the network also learns the slices just
outside the liver where false positives happen; a labelled volume without liver contributes all its slices.
Unlabelled cases (LiTS test volumes, Decathlon ``imagesTs``) are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.ct import find_cases, load_case
from condswin.ct.datasets import CTCase
from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.inference import SliceLayout
from condswin.training.config import TrainConfig
from condswin.training.data.contract import input_contract, normalization_of
from condswin.training.data.prepare import make_ct_sample
from condswin.training.data.samples import (
    DataSplits,
    SliceDataset,
    SliceSample,
    build_index,
    cache_folder,
    data_splits,
    hold_out,
)
from condswin.training.data.store import (
    ArraySource,
    ProcessLocal,
    VolumeCache,
    nifti_source,
    source_from_dict,
    source_to_dict,
)

__all__ = ["CTVolume", "CTSliceDataset", "build_ct_folder", "check_ct_cases"]

_LICENCES = {
    "lits": "LiTS challenge data: CC BY-NC-SA 4.0",
    "decathlon": "Medical Segmentation Decathlon (Task03_Liver, from LiTS): CC BY-SA 4.0",
}
_MARGIN_FRACTION = 0.25
_MIN_MARGIN = 2
_CACHE_VERSION = "ct-1"


@dataclass(frozen=True)
class CTVolume:
    """A checked CT case: where its voxels are and which of its axial slices are used."""

    case_id: str
    path: str
    image: ArraySource
    labels: ArraySource
    layout: SliceLayout
    slices: tuple[int, ...]


def _used_slices(liver_range: list[int] | None, count: int) -> list[int]:
    if liver_range is None:
        return list(range(count))
    first, last = liver_range
    margin = max(_MIN_MARGIN, int(round(_MARGIN_FRACTION * (last - first + 1))))
    return list(range(max(0, first - margin), min(count, last + margin + 1)))


def _check_case(case: CTCase, cache: VolumeCache) -> CTVolume:
    """Check one case (or reuse the check of its unchanged files) and map its voxels."""
    assert case.label_path is not None  # training cases are found with their label maps
    name = Path(case.volume_path).name.split(".")[0]
    key = f"{_CACHE_VERSION}|{VolumeCache.file_key(case.volume_path)}|{VolumeCache.file_key(case.label_path)}"
    info = cache.info(name, key)
    if info is not None and all(Path(info[k]["path"]).is_file() for k in ("image", "labels")):
        image_source, label_source = source_from_dict(info["image"]), source_from_dict(info["labels"])
    else:
        ct, labels = load_case(case)  # raises ImageFileError (an InputError) naming the file at fault
        assert labels is not None
        layout = SliceLayout.from_image(ct, "axial")
        label_array = sitk.GetArrayViewFromImage(labels)
        per_slice = layout.slices(label_array).reshape(layout.slice_shape(label_array.shape)[0], -1).max(axis=1)
        liver = np.flatnonzero(per_slice > 0)
        image_source = nifti_source(case.volume_path) or cache.put_array(
            name, key, "image", sitk.GetArrayViewFromImage(ct)
        )
        label_source = nifti_source(case.label_path) or cache.put_array(name, key, "labels", label_array)
        info = {
            "image": source_to_dict(image_source),
            "labels": source_to_dict(label_source),
            "spacing": list(ct.GetSpacing()),
            "direction": list(ct.GetDirection()),
            "liver": None if liver.size == 0 else [int(liver[0]), int(liver[-1])],
        }
        cache.put_info(name, key, info)
    layout = SliceLayout.from_geometry(info["spacing"], info["direction"], "axial")
    count = layout.slice_shape(image_source.shape)[0]
    return CTVolume(
        case_id=str(case.case_id),
        path=str(case.volume_path),
        image=image_source,
        labels=label_source,
        layout=layout,
        slices=tuple(_used_slices(info["liver"], count)),
    )


def check_ct_cases(root: str | Path, kind: str, cache: VolumeCache, source: str) -> list[CTVolume]:
    """Find and check every labelled case of a LiTS / Decathlon folder.

    Args:
        root: the dataset folder.
        kind: ``lits`` or ``decathlon`` (the layout must match).
        cache: where check results and decompressed copies go.
        source: the config file (for messages).

    Returns:
        The checked volumes, in case order.

    Raises:
        InputNotFoundError: the folder does not exist.
        InputError: no image/label pairs, mismatched grids, labels outside {0, 1, 2}, unreadable files.
        UsageError: the folder's layout is not the configured kind.
    """
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"{root}: no such dataset folder (data.root / data.val_root of {source})")
    decathlon = (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir()
    if kind == "decathlon" and not decathlon:
        raise UsageError(f"{source}: data.kind is decathlon but {root} has no imagesTr/ folder (LiTS layout?)")
    if kind == "lits" and decathlon:
        raise UsageError(f"{source}: data.kind is lits but {root} has the Decathlon layout (imagesTr/)")
    cases = [case for case in find_cases(root) if case.label_path is not None]
    if not cases:
        layout = "imagesTr/ + labelsTr/" if kind == "decathlon" else "volume-N.nii[.gz] + segmentation-N.nii[.gz]"
        raise InputError(f"{root}: no image/label pairs ({layout}) to train on")
    return [_check_case(case, cache) for case in cases]


class CTSliceDataset(SliceDataset):
    """Axial CT slices, HU-windowed and resized as inference does, with their labels (int64, 0/1/2).

    Args:
        volumes: the checked volumes of this split.
        config: the run's config (window, size, augmentation).
        training: augment (geometric on image and labels, intensity on the image).
    """

    def __init__(self, volumes: Sequence[CTVolume], config: TrainConfig, training: bool):
        super().__init__(
            [v.case_id for v in volumes], build_index([v.slices for v in volumes]), training, config.data.split_seed
        )
        self.volumes = list(volumes)
        self.size = (int(config.data.size[0]), int(config.data.size[1]))
        self.normalization = normalization_of(input_contract(config))
        self.augment = config.data.augment
        self._maps: ProcessLocal[np.ndarray] = ProcessLocal(capacity=64)

    def _slice(self, source: ArraySource, layout: SliceLayout, slice_index: int) -> np.ndarray:
        mapped = self._maps.get(source.path, source.open)
        return np.array(source.values(layout.slices(mapped)[slice_index]))

    def make_sample(self, volume: int, slice_index: int, rng: np.random.Generator) -> SliceSample:
        entry = self.volumes[volume]
        hu = self._slice(entry.image, entry.layout, slice_index)
        labels = self._slice(entry.labels, entry.layout, slice_index)
        augment = self.augment if self.training else None
        return make_ct_sample(hu, labels, self.normalization, self.size, augment, rng, entry.case_id, slice_index)


def _describe(kind: str, root: str, splits: dict[str, list[CTVolume]], val_root: str | None, seed: int) -> str:
    counts = ", ".join(
        f"{name} {len(vols)} volumes / {sum(len(v.slices) for v in vols)} slices" for name, vols in splits.items()
    )
    held = f"validation from {val_root}" if val_root else f"whole volumes held out by a seeded split (seed {seed})"
    return f"{kind} CT folder {root}: {counts}; {held}; axial slices with the liver and a margin around it"


def build_ct_folder(config: TrainConfig) -> DataSplits:
    """Datasets of a ``lits`` / ``decathlon`` run (see the module docstring).

    Raises:
        InputNotFoundError / InputError: missing folders or bad cases, naming the file.
        UsageError: more held-out volumes than the folder has, or a layout that is not ``data.kind``.
    """
    data = config.data
    assert data.root is not None  # every kind but phantom has one (checked with the config)
    cache = VolumeCache(cache_folder(config))
    volumes = check_ct_cases(data.root, data.kind, cache, config.source)
    val_volumes = check_ct_cases(data.val_root, data.kind, cache, config.source) if data.val_root else None
    train, val, test = hold_out(volumes, val_volumes, config)
    splits: dict[str, Any] = {"train": train, "validation": val}
    if test:
        splits["test"] = test
    return data_splits(
        config,
        lambda volumes, training: CTSliceDataset(volumes, config, training),
        (train, val, test),
        _describe(data.kind, str(data.root), splits, data.val_root, data.split_seed),
        (_LICENCES[data.kind],),
    )
