"""The one definition of the image file formats: suffixes read and written, and how a path's suffix is read.

Kept free of SimpleITK and numpy so that the command line can build its parser (``--format`` choices)
without loading them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["WRITABLE_SUFFIXES", "READABLE_SUFFIXES", "image_suffix"]

# What is written (single files) and what is read as a file; a folder is read as a DICOM series.
WRITABLE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".mha")
READABLE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def image_suffix(path: str | os.PathLike) -> str:
    """The lower-case format suffix of an image path (``.nii.gz`` kept whole); ``""`` when there is none."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()
