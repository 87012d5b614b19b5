"""The training slices the compressed-sensing benchmarks measure on (never a held-out volume).

A few slices of each training MR volume of ``../shared/data/mri``, taken along the stored third axis as
``condswin reconstruct`` takes them, cut into a small volume of their own; the benchmarks give that volume to
:func:`condswin.jobs.reconstruct_image` with the seeds ``condswin reconstruct`` derives from the file's name
(k-space simulated with a smooth phase, fastMRI random mask), or simulate its k-space the same way.
``brain1_t1gd``, ``adi_brain_t2_fse`` and the real phantom k-space are the held-out data and are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

__all__ = ["TRAINING_VOLUMES", "HELD_OUT", "TrainingSlices", "training_slices", "undersampled_kspace"]

TRAINING_VOLUMES = ("mni152_t1_1mm", "colin27_t1_brain", "adi_brain_t1_memprage", "mr_gd_t1_skullstripped")
HELD_OUT = ("brain1_t1gd", "adi_brain_t2_fse")
# Where along the slice axis the slices are taken: the middle of the head, where the brain is widest.
SLICE_FRACTIONS = (0.35, 0.45, 0.55, 0.65)


@dataclass(frozen=True)
class TrainingSlices:
    """Slices of one training volume.

    Attributes:
        name: the volume's file name (its seeds come from it, as for ``condswin reconstruct``).
        image: a (len(SLICE_FRACTIONS), H, W) volume of the chosen slices with the source's spacing.
        indices: the slices' indices in the source volume.
    """

    name: str
    image: sitk.Image
    indices: tuple[int, ...]


def training_slices(shared: Path, fractions: tuple[float, ...] = SLICE_FRACTIONS) -> list[TrainingSlices]:
    """The chosen slices of every training volume in ``shared/mri``.

    Raises:
        FileNotFoundError: a training volume is missing.
    """
    found = []
    for stem in TRAINING_VOLUMES:
        assert stem not in HELD_OUT
        path = Path(shared) / "mri" / f"{stem}.nii.gz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: training volume not found")
        source = sitk.ReadImage(str(path))
        array = sitk.GetArrayViewFromImage(source)
        indices = tuple(int(round(f * (array.shape[0] - 1))) for f in fractions)
        image = sitk.GetImageFromArray(np.ascontiguousarray(array[list(indices)], dtype=np.float32))
        image.SetSpacing(source.GetSpacing())
        found.append(TrainingSlices(path.name, image, indices))
    return found


def undersampled_kspace(slices: TrainingSlices, acceleration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(reference magnitude, masked k-space, column mask)`` as ``condswin reconstruct`` makes them for the file."""
    from condswin.inference import volume_seed
    from condswin.mri.kspace import apply_mask, simulate_singlecoil_kspace
    from condswin.mri.masks import MaskSpec

    magnitude = sitk.GetArrayFromImage(slices.image).astype(np.float32)
    kspace = simulate_singlecoil_kspace(magnitude, seed=volume_seed(slices.name))
    mask, _ = MaskSpec(acceleration=acceleration).create(kspace.shape[-1], slices.name)
    return magnitude, apply_mask(kspace, mask), mask
