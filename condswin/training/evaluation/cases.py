"""The cases an evaluation scores: whole volumes of a dataset folder, found and checked before any work.

Each data kind reads the layout users already have:

* ``lits`` / ``decathlon`` (segmentation): ``volume-N`` + ``segmentation-N`` NIfTI, or ``imagesTr/`` +
  ``labelsTr/`` (:func:`condswin.ct.find_cases`); cases without labels cannot be scored and are left out.
* ``fastmri`` (reconstruction): the ``.h5`` files directly in the folder (e.g. ``singlecoil_val/``); test files
  (a mask and no target) cannot be scored and are left out.
* ``mr_volumes`` (reconstruction via simulated k-space, denoising): the image files directly in the folder.

Only headers are read here (image headers, h5 metadata), so a typo or a wrong folder fails in seconds; the
voxels are checked when a case is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from condswin.errors import InputError, InputNotFoundError, UsageError
from condswin.io.formats import READABLE_SUFFIXES, image_suffix
from condswin.training.config import DATA_KINDS

__all__ = ["EvalCase", "CaseList", "EVAL_KINDS", "find_eval_cases"]

# The data kinds of each task that are folders of files (the phantom is generated, not evaluated from disk).
EVAL_KINDS: dict[str, tuple[str, ...]] = {
    task: tuple(kind for kind in kinds if kind != "phantom") for task, kinds in DATA_KINDS.items()
}


@dataclass(frozen=True)
class EvalCase:
    """One volume to score.

    Attributes:
        case_id: a short name for tables and figures (LiTS number, Decathlon or file name without suffix).
        path: the input file (CT volume, fastMRI ``.h5`` or MR volume).
        label_path: the reference label map (segmentation), else None.
    """

    case_id: str
    path: Path
    label_path: Path | None = None


@dataclass(frozen=True)
class CaseList:
    """The cases of a dataset folder and what was left out.

    Attributes:
        kind: the data kind (``lits``, ``decathlon``, ``fastmri``, ``mr_volumes``).
        cases: the cases to score, sorted, at most ``limit`` of them.
        notices: files left out and why (shown to the user and written under the table).
    """

    kind: str
    cases: tuple[EvalCase, ...]
    notices: tuple[str, ...] = field(default_factory=tuple)


def _check_kind(task: str, kind: str | None, root: Path) -> str:
    """The data kind: the one given (checked against the task), else the task's kind found in ``root``."""
    kinds = EVAL_KINDS[task]
    if kind is not None:
        if kind not in kinds:
            raise UsageError(f"--kind {kind}: a {task} evaluation reads one of {', '.join(kinds)}")
        return kind
    if task == "segmentation":
        return "decathlon" if (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir() else "lits"
    if task == "reconstruction" and any(p.suffix.lower() == ".h5" for p in root.iterdir() if p.is_file()):
        return "fastmri"
    return "mr_volumes"


def _ct_cases(root: Path, kind: str) -> tuple[list[EvalCase], list[str]]:
    from condswin.ct.datasets import find_cases
    from condswin.io.images import ImageFileError, grid_mismatch, read_image_header

    decathlon = (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir()
    if decathlon != (kind == "decathlon"):
        layout = "imagesTr/ + labelsTr/" if kind == "decathlon" else "volume-N / segmentation-N files"
        raise InputError(f"{root}: --kind {kind} expects {layout}, but the folder has the other layout")
    cases, notices = [], []
    for case in find_cases(root):
        if case.label_path is None:
            notices.append(f"{case.volume_path}: no label map, left out")
            continue
        volume, labels = read_image_header(case.volume_path), read_image_header(case.label_path)
        for path, header in ((case.volume_path, volume), (case.label_path, labels)):
            if header.GetDimension() != 3:
                raise ImageFileError(f"{path}: expected a 3-D image, got {header.GetDimension()}-D")
        mismatch = grid_mismatch(volume, labels)
        if mismatch:
            raise ImageFileError(f"{case.label_path}: not on the grid of {case.volume_path.name}: {mismatch}")
        cases.append(EvalCase(case.case_id, case.volume_path, case.label_path))
    return cases, notices


def _fastmri_cases(root: Path) -> tuple[list[EvalCase], list[str]]:
    import h5py

    from condswin.mri.fastmri import FastMRIFileError, check_schema

    cases, notices = [], []
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".h5"):
        try:
            with h5py.File(path, "r") as f:
                _, target_key = check_schema(f, 0, str(path))
        except OSError as exc:
            raise FastMRIFileError(f"{path}: not a readable HDF5 file ({exc})") from None
        if target_key is None:
            notices.append(f"{path}: no reconstruction target (a test file), left out")
            continue
        cases.append(EvalCase(path.stem, path))
    return cases, notices


def _mr_cases(root: Path) -> tuple[list[EvalCase], list[str]]:
    from condswin.io.images import ImageFileError, read_image_header

    cases = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and image_suffix(p) in READABLE_SUFFIXES):
        header = read_image_header(path)
        if header.GetDimension() != 3 or header.GetNumberOfComponents() != 1:
            raise ImageFileError(f"{path}: expected a scalar 3-D MR volume, got size {header.GetSize()}")
        cases.append(EvalCase(path.name[: -len(image_suffix(path))], path))
    return cases, []


def find_eval_cases(task: str, root: str | os.PathLike, kind: str | None = None, limit: int | None = None) -> CaseList:
    """The scoreable volumes of a dataset folder.

    Args:
        task: ``segmentation``, ``reconstruction`` or ``denoising``.
        root: the dataset folder.
        kind: the data kind (see the module docstring); None picks it from the task and the folder.
        limit: score only the first ``limit`` cases (in sorted order); None for all.

    Returns:
        A :class:`CaseList`.

    Raises:
        UsageError: a kind the task does not read, or a limit below 1.
        InputNotFoundError: ``root`` does not exist.
        InputError: ``root`` holds no scoreable case, or a header is unreadable, not 3-D, or off its label grid.
    """
    root = Path(root)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    if not root.is_dir():
        if root.exists():
            raise InputError(f"{root}: is not a folder (--data takes the dataset folder)")
        raise InputNotFoundError(f"{root}: no such dataset folder")
    chosen = _check_kind(task, kind, root)
    if chosen in ("lits", "decathlon"):
        cases, notices = _ct_cases(root, chosen)
    elif chosen == "fastmri":
        cases, notices = _fastmri_cases(root)
    else:
        cases, notices = _mr_cases(root)
    if not cases:
        what = {
            "lits": "labelled LiTS cases (volume-N + segmentation-N .nii[.gz])",
            "decathlon": "labelled Decathlon cases (imagesTr/ + labelsTr/)",
            "fastmri": "fastMRI .h5 files with a reconstruction target (for a fastMRI root, pass singlecoil_val/)",
            "mr_volumes": f"MR volumes ({', '.join(READABLE_SUFFIXES)})",
        }[chosen]
        if kind is None and task == "reconstruction":  # neither kind was found: name both
            what = "fastMRI .h5 files nor " + what
        reasons = f" ({'; '.join(notices)})" if notices else ""
        raise InputError(f"{root}: no {what} to evaluate{reasons}")
    if limit is not None:
        cases = cases[:limit]
    return CaseList(chosen, tuple(cases), tuple(notices))
