"""Discovery and checking of liver CT datasets: LiTS and Medical Segmentation Decathlon Task03_Liver.

Layouts recognised by :func:`find_cases`:

* **LiTS**: ``volume-N.nii[.gz]`` with ``segmentation-N.nii[.gz]``, anywhere below the root (the challenge
  ships them in "Training Batch 1/2" folders). Volumes without a segmentation (the test set) are listed
  with ``label_path=None``; a segmentation without its volume is an error.
* **Decathlon**: ``<root>/imagesTr/*.nii[.gz]`` with labels of the same name in ``<root>/labelsTr/``, and
  unlabelled ``<root>/imagesTs/``. macOS resource-fork files (``._liver_0.nii.gz``, present in the
  official tarball) are skipped.

Labels follow LiTS: 0 background, 1 liver, 2 tumour.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk

from condswin.io.images import ImageFileError, ImageNotFoundError, grid_mismatch, read_image, read_image_header
from condswin.lits import LABEL_VALUES

__all__ = ["CTCase", "CaseInfo", "find_cases", "check_case", "load_case"]

_LITS_NAME = re.compile(r"^(volume|segmentation)-(\d+)\.nii(\.gz)?$")
_NIFTI_NAME = re.compile(r"^(?!\._)(.+)\.nii(\.gz)?$")


class CTCase(NamedTuple):
    """One CT volume of a dataset and its label map (``None`` when the dataset has none for it)."""

    volume_path: Path
    label_path: Path | None
    case_id: str


@dataclass(frozen=True)
class CaseInfo:
    """What :func:`check_case` learned about a case (sizes in SimpleITK x, y, z order)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    pixel_type: str
    labels_present: tuple[int, ...] | None


def find_cases(root: str | os.PathLike) -> list[CTCase]:
    """List the cases of a LiTS or Decathlon Task03 folder.

    Args:
        root: the dataset folder (for the Decathlon, the folder holding ``imagesTr``).

    Returns:
        Cases sorted by case id (numerically for LiTS). LiTS ids are the number ``N``; Decathlon ids are
        the file name without ``.nii[.gz]`` (``liver_0``).

    Raises:
        ImageNotFoundError: the root does not exist.
        ImageFileError: the root is not a folder, holds no cases, holds a case twice (``.nii`` and
            ``.nii.gz``), or has a label file without its image.
    """
    root = Path(root)
    if not root.exists():
        raise ImageNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise ImageFileError(f"{root}: is not a folder")
    if (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir():
        cases = _find_decathlon(root)
    else:
        cases = _find_lits(root)
    if not cases:
        raise ImageFileError(f"{root}: no LiTS (volume-N.nii[.gz]) or Decathlon (imagesTr/, labelsTr/) cases found")
    return cases


def _find_lits(root: Path) -> list[CTCase]:
    volumes: dict[int, Path] = {}
    labels: dict[int, Path] = {}
    for path in sorted(root.rglob("*.nii*")):
        match = _LITS_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        kind, number = match.group(1), int(match.group(2))
        table = volumes if kind == "volume" else labels
        if number in table:
            raise ImageFileError(f"{path}: case {number} also exists as {table[number]}")
        table[number] = path
    for number, label in labels.items():
        if number not in volumes:
            raise ImageFileError(f"{label}: segmentation without a matching volume-{number}.nii[.gz]")
    return [CTCase(volumes[n], labels.get(n), str(n)) for n in sorted(volumes)]


def _nifti_files(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.iterdir()):
        match = _NIFTI_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        case_id = match.group(1)
        if case_id in files:
            raise ImageFileError(f"{path}: case {case_id} also exists as {files[case_id]}")
        files[case_id] = path
    return files


def _find_decathlon(root: Path) -> list[CTCase]:
    images = _nifti_files(root / "imagesTr")
    labels = _nifti_files(root / "labelsTr")
    for case_id, label in labels.items():
        if case_id not in images:
            raise ImageFileError(f"{label}: label without a matching image in {root / 'imagesTr'}")
    cases = [CTCase(images[c], labels.get(c), c) for c in images]
    test_images = _nifti_files(root / "imagesTs")
    cases += [CTCase(path, None, c) for c, path in test_images.items() if c not in images]
    return sorted(cases, key=lambda case: _natural_key(case.case_id))


def _natural_key(text: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def check_case(
    volume_path: str | os.PathLike,
    label_path: str | os.PathLike | None = None,
    *,
    tolerance: float = 1e-3,
) -> CaseInfo:
    """Check that a CT case can be used for liver segmentation.

    The volume must be a readable, complete, 3-D scalar image without NaN. The label map, when given, must
    be 3-D, lie on the same voxel grid (size, spacing, origin, direction, see :func:`grid_mismatch` for the
    tolerance) and hold only the values 0, 1 and 2 (float label files are accepted when every value is one
    of those integers).

    Args:
        volume_path: the CT volume.
        label_path: its label map, or ``None``.
        tolerance: grid tolerance passed to :func:`grid_mismatch`.

    Returns:
        A :class:`CaseInfo` with the volume's geometry and the label values present.

    Raises:
        ImageFileError: naming the file at fault and the problem.
    """
    return _read_checked(Path(volume_path), None if label_path is None else Path(label_path), tolerance)[2]


def load_case(case: CTCase, *, tolerance: float = 1e-3) -> tuple[sitk.Image, sitk.Image | None]:
    """Check a case (as :func:`check_case`) and return its images.

    Args:
        case: a case from :func:`find_cases` (or any ``(volume_path, label_path, case_id)``).
        tolerance: grid tolerance passed to :func:`grid_mismatch`.

    Returns:
        ``(ct, labels)``: the CT as read (usually int16 HU) and the labels as uint8 with the CT's exact
        geometry (float rounding in a label header does not leak into later steps), or ``None``.

    Raises:
        ImageFileError: naming the file at fault and the problem.
    """
    label_path = None if case[1] is None else Path(case[1])
    ct, labels, _ = _read_checked(Path(case[0]), label_path, tolerance)
    return ct, labels


def _read_checked(
    volume_path: Path, label_path: Path | None, tolerance: float
) -> tuple[sitk.Image, sitk.Image | None, CaseInfo]:
    _require_3d_header(volume_path, "image")
    # Reading the voxels finds truncated files, vector images and NaN, which the header alone cannot.
    volume = read_image(volume_path, ndim=3)
    labels = None
    labels_present = None
    if label_path is not None:
        header = _require_3d_header(label_path, "label map")
        mismatch = grid_mismatch(volume, header, tolerance=tolerance)
        if mismatch:
            raise ImageFileError(f"{label_path}: not on the grid of {volume_path.name}: {mismatch}")
        raw_labels = read_image(label_path, ndim=3)
        labels_present = _label_values(raw_labels, label_path)
        labels = sitk.Cast(raw_labels, sitk.sitkUInt8)
        labels.CopyInformation(volume)
    info = CaseInfo(
        size=tuple(volume.GetSize()),
        spacing=tuple(volume.GetSpacing()),
        origin=tuple(volume.GetOrigin()),
        direction=tuple(volume.GetDirection()),
        pixel_type=volume.GetPixelIDTypeAsString(),
        labels_present=labels_present,
    )
    return volume, labels, info


def _require_3d_header(path: Path, what: str) -> sitk.ImageFileReader:
    header = read_image_header(path)
    if header.GetDimension() != 3:
        raise ImageFileError(
            f"{path}: expected a 3-D {what} but it is {header.GetDimension()}-D with size {header.GetSize()}"
        )
    return header


def _label_values(labels: sitk.Image, path: Path) -> tuple[int, ...]:
    values = np.unique(sitk.GetArrayViewFromImage(labels))
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        raise ImageFileError(f"{path}: label map holds non-integer values {values[values != np.round(values)][:5]}")
    unexpected = sorted(set(values.astype(np.int64).tolist()) - LABEL_VALUES)
    if unexpected:
        raise ImageFileError(
            f"{path}: unexpected label values {unexpected[:10]}; expected only 0 (background), 1 (liver), 2 (tumour)"
        )
    return tuple(int(v) for v in values)
